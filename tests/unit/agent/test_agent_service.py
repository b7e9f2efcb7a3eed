"""The systemd unit of the agent: valid for systemd, and it runs the same command line as a plain process."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
UNIT = REPO / "infra" / "systemd" / "agent.service"
VENV_PYTHON = "/opt/classtop-fleet/venv/bin/python"


def test_unit_runs_the_agent_and_validates_its_config_first() -> None:
    lines = [line.strip() for line in UNIT.read_text().splitlines() if not line.startswith("#")]
    config = "--config /etc/classtop-agent/agent.toml"
    assert f"ExecStartPre={VENV_PYTHON} -m edge.agent {config} --validate-config" in lines
    assert f"ExecStart={VENV_PYTHON} -m edge.agent {config}" in lines
    assert "RestartPreventExitStatus=2" in lines  # a bad config file is not restarted in a loop
    assert "KillMode=mixed" in lines and "StateDirectory=classtop-agent" in lines


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    unit = tmp_path / "classtop-agent.service"
    unit.write_text(UNIT.read_text().replace(VENV_PYTHON, sys.executable))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    problems = [line for line in (result.stdout + result.stderr).splitlines() if "classtop-agent" in line]
    assert result.returncode == 0 and problems == [], result.stdout + result.stderr
