"""The end-to-end tests' twin: one per test module, with the module's ``AGENTS`` (and ``CAMERA_AGENTS``, those of them
with cameras enabled) and site heartbeats every 2 s."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infra.local.twin import Twin
from tests.fixtures.twins import running_twin


@pytest.fixture(scope="module")
def twin(request: pytest.FixtureRequest) -> Iterator[Twin]:
    """The local twin of this test module (``AGENTS``: its agents' ids), stopped after the module's last test."""
    name = request.module.__name__.rpartition(".")[2]
    cameras = getattr(request.module, "CAMERA_AGENTS", ())  # agents with [camera] enabled
    with running_twin(f"ct-{name}-", agent_ids=request.module.AGENTS, camera_agents=cameras,
                      site_heartbeat_s=2.0) as twin:
        yield twin
