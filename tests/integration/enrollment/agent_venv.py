"""A PC with the agent installed as a PC installs it (:mod:`infra.agent_venv`: the wheel in a fresh venv).

:class:`Machine` is a PC with that venv (``classtop-agent install --files-only`` into scratch directories, then
``enrol``); :class:`InstalledAgent` runs the installed ``classtop-agent run`` as the service would.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from infra.agent_venv import clean_env, make_venv, requires
from tests.fixtures.agents import AgentProc

__all__ = ["InstalledAgent", "Machine", "clean_env", "make_venv", "requires"]


class Machine:
    """A fresh PC: the installed agent's command and the directories ``install`` was pointed at."""

    def __init__(self, bin_dir: Path, root: Path) -> None:
        self.bin = bin_dir
        self.config_dir, self.state_dir, self.unit_dir = root / "etc", root / "state", root / "units"
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def run(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.bin / "classtop-agent"), *args], input=stdin, capture_output=True,
                              text=True, env=clean_env(), cwd=self.root, timeout=60, check=False)  # fmt: skip

    def install(self, agent_id: str) -> None:
        done = self.run("install", "--files-only", "--config-dir", str(self.config_dir), "--state-dir",
                        str(self.state_dir), "--unit-dir", str(self.unit_dir), "--agent-id", agent_id)  # fmt: skip
        assert done.returncode == 0, done.stderr

    def enrol(self, url: str, token: str, *extra: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return self.run("enrol", url, token, "--config-dir", str(self.config_dir), "--user", "nobody", "--no-restart",
                        *extra, stdin=stdin)  # fmt: skip

    @property
    def config(self) -> Path:
        return self.config_dir / "agent.toml"

    @property
    def token_file(self) -> Path:
        return self.config_dir / "enroll-token"


class InstalledAgent(AgentProc):
    """``<venv>/bin/classtop-agent run --config …`` with nothing of this repository on its path."""

    def __init__(self, machine: Machine) -> None:
        super().__init__(machine.root / "run", env=clean_env(), cwd=machine.root)
        self.env.pop("PYTHONPATH", None)
        self.command = [str(machine.bin / "classtop-agent"), "run", "--config", str(machine.config)]

    def start(self) -> subprocess.Popen[bytes]:
        self.runs += 1
        with open(self.workdir / f"agent-{self.runs}.log", "wb") as out:
            self.proc = subprocess.Popen(self.command, cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
        return self.proc
