"""Helpers of the agent-upgrade tests: a release key, small agent packages, agents run under the supervisor.

A test package is this repository's ``edge/`` (agent part) and ``shared/`` sources with a ``VERSION`` file: the
agent that runs from it is the real agent, reporting that version. ``broken=True`` replaces the agent's entry
point by one that never connects (a new version that never comes online).
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.agent.upgrade_slots import Slots
from shared.agent_packages import public_key_text, sha256_of, sign
from tests.fixtures.brokers import Broker

REPO = Path(__file__).resolve().parents[3]
HANGING_MAIN = b"import time\nwhile True:\n    time.sleep(1)\n"


def build_package(version: str, *, broken: bool = False) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), int(time.time())
            tar.addfile(info, io.BytesIO(data))

        add("VERSION", f"{version}\n".encode())
        add("edge/__init__.py", (REPO / "edge/__init__.py").read_bytes())
        for top in ("edge/agent", "shared"):
            for path in sorted((REPO / top).rglob("*.py")):
                name = path.relative_to(REPO).as_posix()
                data = HANGING_MAIN if broken and name == "edge/agent/__main__.py" else path.read_bytes()
                add(name, data)
    return out.getvalue()


class ReleaseKey:
    def __init__(self) -> None:
        self.key = Ed25519PrivateKey.generate()
        self.public = public_key_text(self.key.public_key())

    def sign(self, version: str, data: bytes) -> str:
        return sign(self.key, version, sha256_of(data))


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
