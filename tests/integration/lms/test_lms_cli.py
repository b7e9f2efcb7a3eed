"""``python -m edge.lms``: configuration errors, --validate-config, start-up failures, signals."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from infra.local.ports import free_port
from tests.fixtures.brokers import Broker
from tests.integration.lms.lms_harness import REPO, LmsFactory, lms_config_text

pytestmark = pytest.mark.integration


def run_lms(*args: str, env: dict[str, str] | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge.lms", *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('tenant = "demo"\nsite_id = "s1"\nhttp_port = "eighty"\n', "http_port"),
        ('tenant = "Demo Town"\nsite_id = "s1"\n', "tenant"),
        ('tenant = "demo"\nsite_id = "s1"\ncolour = "red"\n', "colour"),
        ("tenant = \n", "not valid TOML"),
        ('tenant = "demo"\nsite_id = "s1"\n', "CLASSTOP_LMS_BROKER_PASSWORD"),
    ],
)
def test_bad_config_exits_2_with_a_message_and_no_traceback(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "lms.toml"
    path.write_text(text)
    env = {"CLASSTOP_LMS_BROKER_PASSWORD": ""}
    result = run_lms("--config", str(path), env=env)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_missing_config_file_and_bad_arguments(tmp_path: Path) -> None:
    result = run_lms("--config", str(tmp_path / "nope.toml"))
    assert result.returncode == 2 and "cannot read config file" in result.stderr
    result = run_lms()
    assert result.returncode == 2 and "--config" in result.stderr


def test_validate_config(tmp_path: Path, site_broker: Broker) -> None:
    path = tmp_path / "lms.toml"
    path.write_text(
        lms_config_text(site_broker=site_broker, cloud_port=1884, http_port=8000, db_path=tmp_path / "x.db")
    )
    result = run_lms("--config", str(path), "--validate-config", env={"CLASSTOP_LMS_BROKER_PASSWORD": "x"})
    assert result.returncode == 0, result.stderr
    assert "configuration OK" in result.stdout and "school-1" in result.stdout
    assert not (tmp_path / "x.db").exists()  # validation touches nothing


def test_wrong_broker_password_exits_1(tmp_path: Path, site_broker: Broker) -> None:
    path = tmp_path / "lms.toml"
    path.write_text(
        lms_config_text(site_broker=site_broker, cloud_port=None, http_port=free_port(), db_path=tmp_path / "x.db")
    )
    result = run_lms("--config", str(path), env={"CLASSTOP_LMS_BROKER_PASSWORD": "wrong"})
    assert result.returncode == 1
    assert "refused the LMS" in result.stderr and "Traceback" not in result.stderr


def test_http_port_in_use_exits_1(lms_factory: LmsFactory) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        lms = lms_factory(http_port=taken.getsockname()[1])
        result = run_lms("--config", str(lms.config_path), env=lms.env)
    assert result.returncode == 1
    assert "cannot listen on" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signals_stop_the_lms_cleanly(lms_factory: LmsFactory, sig: int) -> None:
    lms = lms_factory().start()
    assert lms.stop(sig) == 0
    assert "stopped" in lms.log() and "Traceback" not in lms.log()
