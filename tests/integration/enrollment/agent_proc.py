"""A real agent process (``python -m edge.agent``) that enrols with an LMS: ``[enroll] url`` and ``ca_hash``."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tests.fixtures.agents import AgentProc as _AgentProc


class AgentProc(_AgentProc):
    def __init__(self, workdir: Path, agent_id: str, lms_url: str, ca_hash: str) -> None:
        super().__init__(
            workdir,
            f'agent_id = "{agent_id}"\nheartbeat_s = 0.5\nmetrics_s = 5\nstate_dir = "state"\n'
            "[mqtt]\nreconnect_min_s = 0.2\nreconnect_max_s = 1\n"
            f'[enroll]\nurl = "{lms_url}"\nca_hash = "{ca_hash}"\nretry_min_s = 0.2\nretry_max_s = 1\n',
            env={k: v for k, v in os.environ.items() if not k.startswith("CLASSTOP_")},
        )
        self.agent_id = agent_id

    @property
    def credentials_path(self) -> Path:
        return self.state_dir / "credentials.json"

    def start(self, token: str | None) -> AgentProc:  # type: ignore[override]  # the token is what varies
        """Start with ``token`` as ``CLASSTOP_ENROLL_TOKEN`` (None: without one)."""
        self.env.pop("CLASSTOP_ENROLL_TOKEN", None)
        if token is not None:
            self.env["CLASSTOP_ENROLL_TOKEN"] = token
        super().start()
        return self

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 20) -> int:
        return super().stop(sig, timeout)
