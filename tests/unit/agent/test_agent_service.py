"""The systemd unit of the agent (``classtop-agent install`` renders it from the package): valid for systemd, and
it runs the same command line as a plain process."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from edge.agent.install import InstallLayout, render_unit

VENV_BIN = "/opt/classtop-agent/venv/bin/classtop-agent"


def test_unit_runs_the_agent_and_validates_its_config_first() -> None:
    text = render_unit(InstallLayout(executable=VENV_BIN))
    lines = [line.strip() for line in text.splitlines() if not line.startswith("#")]
    config = "--config /etc/classtop-agent/agent.toml"
    assert f"ExecStartPre={VENV_BIN} run {config} --validate-config" in lines
    assert f"ExecStart={VENV_BIN} run {config}" in lines
    assert "RestartPreventExitStatus=2" in lines  # a bad config file is not restarted in a loop
    assert "Restart=always" in lines and "RestartSec=5" in lines  # a crashed (kill -9) agent comes back
    assert "KillMode=mixed" in lines and "StateDirectory=classtop-agent" in lines
    assert "User=classtop-agent" in lines and "EnvironmentFile=-/etc/classtop-agent/agent.env" in lines
    assert "$" not in text  # every placeholder filled


def test_paths_and_user_are_the_layouts(tmp_path: Path) -> None:
    layout = InstallLayout(config_dir=tmp_path / "etc", state_dir=tmp_path / "state", unit_dir=tmp_path / "u",
                           user="pc-agent", executable="/x/bin/classtop-agent")  # fmt: skip
    lines = render_unit(layout).splitlines()
    assert f"ExecStart=/x/bin/classtop-agent run --config {tmp_path / 'etc' / 'agent.toml'}" in lines
    assert "User=pc-agent" in lines and "Group=pc-agent" in lines
    assert not [line for line in lines if line.startswith("StateDirectory")]  # systemd would make /var/lib/…


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    unit = tmp_path / "classtop-agent.service"
    unit.write_text(render_unit(InstallLayout(executable=shutil.which("true") or "/bin/true")))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    problems = [line for line in (result.stdout + result.stderr).splitlines() if "classtop-agent" in line]
    assert result.returncode == 0 and problems == [], result.stdout + result.stderr
