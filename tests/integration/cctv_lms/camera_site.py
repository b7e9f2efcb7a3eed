"""A small CCTV site for tests: the real LMS process and a real agent process with ``[camera]`` enabled."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from infra.local.ports import free_port
from tests.fixtures.agents import AgentProc, broker_agent_env, camera_agent_config, running_agent
from tests.fixtures.brokers import Broker
from tests.integration.lms.lms_harness import LmsProcess, lms_config_text

#: A synthetic camera small enough to cost little CPU; one-second segments so recordings finish quickly.
CAMERA = {"camera_id": "door", "source": "synthetic:moving", "fps": 10, "width": 160, "height": 120,
          "segment_s": 1}


@contextlib.contextmanager
def lms_process(site_broker: Broker, workdir: Path, settings: dict[str, Any] | None = None) -> Iterator[LmsProcess]:
    """The LMS; ``settings`` adds to (or overrides) its config's top-level keys and tables."""
    workdir.mkdir(parents=True, exist_ok=True)
    text = lms_config_text(site_broker=site_broker, cloud_port=None, http_port=free_port(),
                           db_path=workdir / "lms.db",
                           settings={"command_timeout_s": 20, "classtop": {"client_policy": "open"},
                                     **(settings or {})})
    with LmsProcess(workdir, text, site_broker.passwords["lms"]).running() as proc:
        yield proc


@contextlib.contextmanager
def camera_agent(site_broker: Broker, workdir: Path) -> Iterator[subprocess.Popen[bytes]]:
    agent = AgentProc(workdir, camera_agent_config(site_broker), env=broker_agent_env(site_broker), cwd=workdir)
    with running_agent(agent, show=3000) as proc:
        yield proc
