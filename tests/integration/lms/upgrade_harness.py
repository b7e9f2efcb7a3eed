"""Agents run under the upgrade supervisor (``python -m edge.agent.upgrade_supervisor``) for the upgrade tests;
their packages come from :mod:`tests.fixtures.agent_packages`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from edge.agent.upgrade_slots import Slots
from tests.fixtures.brokers import Broker

REPO = Path(__file__).resolve().parents[3]


class SupervisedAgent:
    """``python -m edge.agent.upgrade_supervisor`` running one real agent from its install root."""

    def __init__(self, workdir: Path, broker: Broker, agent_id: str, release_public_key: str) -> None:
        self.agent_id = agent_id
        self.workdir = workdir
        self.root = workdir / "install"
        self.slots = Slots(self.root)
        workdir.mkdir(parents=True, exist_ok=True)
        self.config = workdir / "agent.toml"
        self.config.write_text(
            f'agent_id = "{agent_id}"\nstate_dir = "state"\nstop_wait_s = 2\nheartbeat_s = 1\n'
            f'[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\nreconnect_max_s = 1\n'
            f'[upgrade]\nroot = "{self.root}"\nrelease_public_key = "{release_public_key}"\nrestart_delay_s = 0.2\n'
        )
        self.env = {**os.environ, "PYTHONPATH": str(REPO), "CLASSTOP_AGENT_PASSWORD": broker.passwords[agent_id]}
        self.log_path = workdir / "supervisor.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> SupervisedAgent:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "edge.agent.upgrade_supervisor", "--root", str(self.root),
                 "--restart-delay", "0.5", "--config", str(self.config)],
                cwd=self.workdir, env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def installed(self) -> list[str]:
        return sorted(p.name for p in self.slots.versions.iterdir() if not p.name.startswith("."))

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
