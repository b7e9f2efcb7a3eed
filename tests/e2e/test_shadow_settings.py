"""Settings set centrally reach the agents through device shadows, across all tiers (the local twin):
cloud API ``PUT /api/agents/{id}/settings`` (desired) -> the twin's IoT Core shadow service (delta) -> LMS ->
agent -> LMS reports -> the cloud shows desired == reported. An agent that is off gets them when it returns."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from infra.local.twin import Twin

pytestmark = pytest.mark.e2e

AGENTS = ("room-1", "room-2")  # the agents of the module's twin (tests/e2e/conftest.py)


def call(url: str, token: str, method: str = "GET", body: Any = None, context: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30, context=context) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def eventually(check: Callable[[], Any], timeout_s: float = 30.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}: last {last!r}")


def cloud_settings(twin: Twin, agent_id: str) -> dict[str, Any]:
    status, body = call(f"{twin.api_url}/api/agents/{agent_id}/settings", twin.admin_token)
    assert status == 200, body
    data: dict[str, Any] = body.get("data", body)
    return data


def agent_setting(twin: Twin, agent_id: str, key: str) -> Any:
    """What the agent itself holds, asked through the LMS's own API (a get_setting command)."""
    status, body = call(f"{twin.lms_url}/api/clients/{agent_id}/command", twin.lms_token, "POST",
                        {"command": "get_setting", "params": {"key": key}}, twin.lms_ssl_context())  # fmt: skip
    return body.get("data") if status == 200 and body.get("success") else None


def test_desired_settings_reach_online_and_returning_agents(twin: Twin) -> None:
    status, body = call(f"{twin.api_url}/api/agents/room-1/settings", twin.admin_token, "PUT",
                        {"settings": {"theme_mode": "dark", "font_size": 18}})  # fmt: skip
    assert status == 200, body
    eventually(lambda: agent_setting(twin, "room-1", "font_size") == "18", what="room-1 applying the settings")
    view = eventually(lambda: (v := cloud_settings(twin, "room-1"))["pending"] == {} and v, what="room-1 reported")
    assert view["desired"] == {"theme_mode": "dark", "font_size": "18"}
    assert view["reported"]["theme_mode"] == "dark" and view["reported"]["font_size"] == "18"

    # room-2 is off when the admin sets it; it gets it when it comes back
    twin.agents["room-2"].stop()
    status, body = call(f"{twin.api_url}/api/agents/room-2/settings", twin.admin_token, "PUT",
                        {"settings": {"theme_mode": "light"}})  # fmt: skip
    assert status == 200, body
    assert cloud_settings(twin, "room-2")["pending"] == {"theme_mode": "light"}
    twin.start_agent("room-2")
    eventually(lambda: agent_setting(twin, "room-2", "theme_mode") == "light", 60, what="room-2 on its return")
    eventually(lambda: cloud_settings(twin, "room-2")["pending"] == {}, what="room-2 reported")

    # bad input at the cloud API: a clear 400, nothing stored
    status, body = call(f"{twin.api_url}/api/agents/room-1/settings", twin.admin_token, "PUT",
                        {"settings": {"bad key": "x"}})  # fmt: skip
    assert status == 400, body
    assert cloud_settings(twin, "room-1")["desired"] == {"theme_mode": "dark", "font_size": "18"}
