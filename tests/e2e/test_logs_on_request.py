"""Logs on request, all tiers on the local twin (docs/logs.md): the cloud API asks an agent (through its LMS) and
the LMS itself for the records of a range; each arrives gzipped in moto's S3 through a presigned POST, and the
download link serves exactly the host's own lines of that range."""

from __future__ import annotations

import gzip
import json
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from infra.local.twin import Twin
from shared.log_export import LogRange, rotated_files, select

pytestmark = pytest.mark.e2e

AGENTS = ("pc-logs",)  # the agents of the module's twin (tests/e2e/conftest.py)


def api(twin: Twin, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    req = urllib.request.Request(twin.api_url + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    req.add_header("Content-Type", "application/json")
    req.add_header("Authorization", f"Bearer {twin.admin_token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())["data"]
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def until_done(twin: Twin, path: str, done: str, timeout_s: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    data: Any = None
    while time.monotonic() < deadline:
        status, data = api(twin, "GET", path)
        assert status == 200, data
        if data["status"] == done:
            return dict(data)
        assert data["status"] in ("pending", "delivered", "running"), data
        time.sleep(0.1)
    raise AssertionError(f"{path} is not {done} after {timeout_s} s: {data}")


def download(url: str) -> list[str]:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return gzip.decompress(resp.read()).decode().splitlines()


def own_lines(log_file: Path, since: float, until: float) -> list[str]:
    """The host's own file, read the same way: what the object must hold."""
    return select(rotated_files(log_file, 10), LogRange(since=since, until=until)).lines


def test_agent_and_lms_logs_of_a_range_arrive_in_the_bucket(twin: Twin) -> None:
    since = time.time() - 1.0  # stamps are in milliseconds: a second of margin before the marker
    marker = f"marker-{uuid.uuid4().hex[:10]}"
    status, created = api(twin, "POST", "/api/commands",
                          {"agent_id": "pc-logs", "command": "exec", "params": {"argv": ["echo", marker]}})
    assert status == 202, created
    assert until_done(twin, f"/api/commands/{created['command_id']}", "succeeded")
    until = time.time()
    time.sleep(0.05)  # what is logged from now on (the log requests themselves) is after the range

    status, agent_request = api(twin, "POST", "/api/agents/pc-logs/logs", {"since": since, "until": until})
    assert status == 202, agent_request
    status, lms_request = api(twin, "POST", f"/api/sites/{twin.opt.site_id}/logs", {"since": since, "until": until})
    assert status == 202, lms_request

    agent_done = until_done(twin, f"/api/logs/{agent_request['request_id']}", "uploaded")
    assert agent_done["key"] == f"logs/{twin.opt.site_id}/agents/pc-logs/{agent_request['request_id']}.log.gz"
    agent_lines = download(agent_done["download_url"])
    assert any(f"starting: echo {marker}" in line for line in agent_lines), agent_lines[-20:]
    agent_log = twin.workdir / "agents" / "pc-logs" / "state" / "logs" / "agent.log"
    assert agent_lines == own_lines(agent_log, since, until)
    # the object can be in the bucket before the agent's answer has reached the cloud: wait for the answer too
    deadline = time.monotonic() + 30
    while agent_done["result"]["status"] != "succeeded" and time.monotonic() < deadline:
        assert agent_done["result"]["status"] in ("pending", "delivered", "running"), agent_done
        time.sleep(0.1)
        agent_done = until_done(twin, f"/api/logs/{agent_request['request_id']}", "uploaded")
    assert agent_done["result"]["status"] == "succeeded" and agent_done["result"]["data"]["lines"] == len(agent_lines)

    lms_done = until_done(twin, f"/api/logs/{lms_request['request_id']}", "uploaded")
    lms_lines = download(lms_done["download_url"])
    assert any(created["command_id"] in line for line in lms_lines), lms_lines[-20:]  # the LMS's fan-out line
    assert lms_lines == own_lines(twin.lms_dir / "logs" / "lms.log", since, until)
