"""A small CCTV site for tests: the real LMS process and a real agent process with ``[camera]`` enabled."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from infra.local.mosquitto import free_port
from tests.fixtures.brokers import Broker
from tests.integration.lms.lms_harness import REPO, LmsProcess, lms_config_text

AGENT = "agent-1"
#: A synthetic camera small enough to cost little CPU; one-second segments so recordings finish quickly.
CAMERA = {"camera_id": "door", "source": "synthetic:moving", "fps": 10, "width": 160, "height": 120,
          "segment_s": 1}


@contextlib.contextmanager
def lms_process(site_broker: Broker, workdir: Path) -> Iterator[LmsProcess]:
    workdir.mkdir(parents=True, exist_ok=True)
    text = lms_config_text(site_broker=site_broker, cloud_port=None, http_port=free_port(),
                           db_path=workdir / "lms.db",
                           settings={"command_timeout_s": 20, "classtop": {"client_policy": "open"}})
    proc = LmsProcess(workdir, text, site_broker.passwords["lms"])
    try:
        yield proc.start()
    finally:
        try:
            proc.stop()
        finally:
            proc.http.close()


@contextlib.contextmanager
def camera_agent(site_broker: Broker, workdir: Path) -> Iterator[subprocess.Popen[bytes]]:
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "agent.toml"
    config.write_text(
        f'agent_id = "{AGENT}"\nstate_dir = "state"\nstop_wait_s = 2\n'
        f'[mqtt]\nhost = "{site_broker.host}"\nport = {site_broker.port}\nreconnect_max_s = 1\n'
        '[camera]\nenabled = true\nstream_port = 0\nretention_interval_s = 1\ndisk_warn_free_mb = 0\n'
        "disk_reserve_mb = 0\n"
    )
    env = dict(os.environ, CLASSTOP_AGENT_PASSWORD=site_broker.passwords[AGENT], PYTHONPATH=str(REPO))
    with open(workdir / "agent.log", "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "edge.agent", "--config", str(config)],
                                cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        print((workdir / "agent.log").read_text(errors="replace")[-3000:])
