"""A real agent process (``python -m edge.agent``) that enrols with an LMS: ``[enroll] url`` and ``ca_hash``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.integration.lms.lms_harness import REPO


class AgentProc:
    def __init__(self, workdir: Path, agent_id: str, lms_url: str, ca_hash: str) -> None:
        self.workdir = workdir
        self.agent_id = agent_id
        self.config = workdir / "agent.toml"
        self.state_dir = workdir / "state"
        self.log = workdir / "agent.log"
        self.proc: subprocess.Popen[bytes] | None = None
        workdir.mkdir(parents=True, exist_ok=True)
        self.config.write_text(
            f'agent_id = "{agent_id}"\nheartbeat_s = 0.5\nmetrics_s = 5\nstate_dir = "state"\n'
            "[mqtt]\nreconnect_min_s = 0.2\nreconnect_max_s = 1\n"
            f'[enroll]\nurl = "{lms_url}"\nca_hash = "{ca_hash}"\nretry_min_s = 0.2\nretry_max_s = 1\n'
        )

    @property
    def credentials_path(self) -> Path:
        return self.state_dir / "credentials.json"

    def start(self, token: str | None) -> AgentProc:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLASSTOP_")}
        env["PYTHONPATH"] = str(REPO)
        if token is not None:
            env["CLASSTOP_ENROLL_TOKEN"] = token
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "edge.agent", "--config", str(self.config)],
                cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        return self

    def stop(self) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(20)
        self.proc = None
        return code

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""
