"""All three tiers, real processes: cloud API (Chalice on moto) -> IoT Core stand-in -> LMS -> agent -> back.

The twin is the same supervisor ``make demo`` runs, on free loopback ports.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from infra.local.twin import Twin
from shared import topics
from shared.mqtt import IncomingMessage, MqttClient
from shared.names import Namespace, resource_name

pytestmark = pytest.mark.e2e

AGENTS = ("pc-a", "pc-b")  # the agents of the module's twin (tests/e2e/conftest.py)


def call(
    twin: Twin, method: str, path: str, body: Any = None, *, raw: bytes | None = None, token: str | None = "admin"
) -> tuple[int, Any]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(twin.api_url + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token == "admin":
        req.add_header("Authorization", f"Bearer {twin.admin_token}")
    elif token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def run_command(twin: Twin, body: dict[str, Any], timeout_s: float = 20) -> dict[str, Any]:
    status, created = call(twin, "POST", "/api/commands", body)
    assert status == 202, created
    command_id = created["data"]["command_id"]
    assert created["data"]["status"] == "pending"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status, got = call(twin, "GET", f"/api/commands/{command_id}")
        assert status == 200, got
        data: dict[str, Any] = got["data"]
        if data["status"] != "pending":
            return data
        time.sleep(0.05)
    raise AssertionError(f"command {command_id} still pending after {timeout_s} s: {got}")


def test_exec_round_trip_through_all_tiers(twin: Twin, site_downlink: list[IncomingMessage]) -> None:
    stored_before = _stored_commands(twin)
    record = run_command(
        twin, {"agent_id": "pc-a", "command": "exec", "params": {"cmd": "echo hello-from-$((6*7)); exit 0"}}
    )
    assert _stored_commands(twin) == stored_before + 1
    sent = [json.loads(m.payload) for m in site_downlink if json.loads(m.payload)["request_id"] == record["command_id"]]
    assert len(sent) == 1 and sent[0]["targets"] == ["pc-a"] and sent[0]["command"] == "exec"
    assert record["status"] == "succeeded"
    outcome = record["results"]["pc-a"]
    assert outcome["status"] == "succeeded"
    assert outcome["data"]["exit_code"] == 0
    assert outcome["data"]["stdout"] == "hello-from-42\n"


def test_exec_failure_carries_exit_code_and_output(twin: Twin) -> None:
    record = run_command(
        twin, {"agent_id": "pc-b", "command": "exec", "params": {"argv": ["sh", "-c", "echo oops >&2; exit 3"]}}
    )
    assert record["status"] == "failed"
    outcome = record["results"]["pc-b"]
    assert outcome["data"]["exit_code"] == 3
    assert outcome["data"]["stderr"] == "oops\n"
    assert outcome["error"]


def test_exec_timeout_is_reported(twin: Twin) -> None:
    record = run_command(
        twin, {"agent_id": "pc-a", "command": "exec", "params": {"cmd": "sleep 30", "timeout_s": 0.5}}
    )
    outcome = record["results"]["pc-a"]
    assert outcome["status"] == "timed_out", outcome
    assert outcome["error_code"] == "timeout"


def test_get_all_settings_round_trip_and_batch_to_two_agents(
    twin: Twin, site_downlink: list[IncomingMessage]
) -> None:
    record = run_command(twin, {"agent_ids": list(AGENTS), "command": "get_all_settings"})
    assert record["status"] == "succeeded"
    sent = [m for m in site_downlink if json.loads(m.payload)["request_id"] == record["command_id"]]
    assert len(sent) == 1  # one message per site, fanned out by the LMS
    for agent in AGENTS:
        assert record["results"][agent]["status"] == "succeeded"
        assert isinstance(record["results"][agent]["data"], dict)


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (b"{not json", 400, "bad_json"),
        (json.dumps({"agent_id": "pc-a", "command": "format_disk"}).encode(), 400, "unknown_command"),
        (json.dumps({"agent_id": "nobody", "command": "ping"}).encode(), 404, "unknown_agent"),
        (json.dumps({"agent_id": "pc-a", "command": "exec", "params": {"cmd": 5}}).encode(), 400, "invalid_params"),
        (json.dumps({"agent_id": ["pc-a"], "command": "ping"}).encode(), 400, None),
        (json.dumps({"agent_id": "pc-a", "command": "ping", "params": "x" * 300_000}).encode(), 413, None),
    ],
)
def test_bad_input_is_refused_and_nothing_is_sent(
    twin: Twin, site_downlink: list[IncomingMessage], raw: bytes, status: int, code: str | None
) -> None:
    sent_before, stored_before = len(site_downlink), _stored_commands(twin)
    got_status, body = call(twin, "POST", "/api/commands", raw=raw)
    assert got_status == status, body
    assert body["error"]["message"]
    if code:
        assert body["error"]["code"] == code
    time.sleep(0.2)
    assert len(site_downlink) == sent_before
    assert _stored_commands(twin) == stored_before


def test_wait_query_returns_the_finished_record(twin: Twin) -> None:
    status, body = call(twin, "POST", "/api/commands?wait=15", {"agent_id": "pc-b", "command": "ping"})
    assert status == 200, body
    assert body["data"]["status"] == "succeeded"
    status, body = call(twin, "POST", "/api/commands?wait=99", {"agent_id": "pc-b", "command": "ping"})
    assert status == 400 and "wait" in body["error"]["message"]


def test_unauthenticated_calls_are_refused(twin: Twin) -> None:
    status, body = call(twin, "POST", "/api/commands", {"agent_id": "pc-a", "command": "ping"}, token=None)
    assert status == 401 and body["error"]["code"] == "unauthorized"
    status, body = call(twin, "GET", "/api/commands/does-not-exist")
    assert status == 404


@pytest.fixture(scope="module")
def site_downlink(twin: Twin) -> Iterator[list[IncomingMessage]]:
    """Every message the cloud sends down to the twin's site, as seen on the IoT Core stand-in."""
    assert twin.cloud_broker is not None
    seen: list[IncomingMessage] = []
    watcher = MqttClient(twin.iot_core_client("e2e-watcher"))  # a privileged observer (as inside IoT Core)
    namespace = Namespace(twin.opt.tenant, twin.opt.stage)
    watcher.subscribe(topics.site_down_filter(namespace, twin.opt.site_id), seen.append)
    watcher.start()
    time.sleep(0.2)
    yield seen
    watcher.stop()


def _stored_commands(twin: Twin) -> int:
    """Command items in the cloud's table (a test-only scan of moto's DynamoDB)."""
    ddb = boto3.client(
        "dynamodb", endpoint_url=twin.moto_url, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip
    table = resource_name(Namespace(twin.opt.tenant, twin.opt.stage), "command")
    return int(ddb.scan(TableName=table, Select="COUNT")["Count"])
