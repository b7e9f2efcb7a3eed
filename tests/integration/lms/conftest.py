"""Fixtures of the LMS integration tests: LMS subprocesses and simulated agents (see lms_harness)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.local.ports import free_port
from tests.fixtures.brokers import Broker
from tests.integration.lms.lms_harness import (
    LmsFactory,
    LmsProcess,
    Responder,
    SimAgent,
    lms_config_text,
    settings_responder,
)


@pytest.fixture
def lms_factory(tmp_path: Path, site_broker: Broker) -> Iterator[LmsFactory]:
    """Make (and on teardown stop) LMS processes against the ``site_broker``; each call gets its own dir."""
    made: list[LmsProcess] = []

    def make(
        cloud_port: int | None = None,
        *,
        name: str = "lms",
        db_path: Path | None = None,
        http_port: int | None = None,
        settings: dict[str, Any] | None = None,
        cloud_settings: dict[str, Any] | None = None,
    ) -> LmsProcess:
        workdir = tmp_path / f"{name}-{len(made)}"
        workdir.mkdir()
        text = lms_config_text(
            site_broker=site_broker,
            cloud_port=cloud_port,
            http_port=http_port or free_port(),
            db_path=db_path or (tmp_path / "lms.db"),
            settings=settings,
            cloud_settings=cloud_settings,
        )
        lms = LmsProcess(workdir, text, site_broker.passwords["lms"])
        made.append(lms)
        return lms

    yield make
    for lms in made:
        lms.close()


@pytest.fixture
def agents(site_broker: Broker) -> Iterator[Callable[..., SimAgent]]:
    """Make simulated agents on the site broker; stopped (if still connected) on teardown."""
    made: list[SimAgent] = []

    def make(agent_id: str = "agent-1", responder: Responder = settings_responder) -> SimAgent:
        agent = SimAgent(site_broker, agent_id, responder)
        made.append(agent)
        return agent

    yield make
    for agent in made:
        with contextlib.suppress(Exception):
            agent.client.stop(timeout_s=2.0)

