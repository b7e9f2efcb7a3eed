"""The real agent process with ``[camera] enabled = true``, driven over the real site broker as the LMS."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.messages import Event, Response, decode
from shared.topics import AgentUp, agent_down, agent_up
from tests.fixtures.agents import AGENT, AgentProc, broker_agent_env, camera_agent_config, running_agent
from tests.fixtures.brokers import Broker, MqttProbe

pytestmark = pytest.mark.integration

RESPONSE = agent_up(AGENT, AgentUp.RESPONSE)
EVENT = agent_up(AGENT, AgentUp.EVENT)


@pytest.fixture
def lms(site_broker: Broker) -> MqttProbe:
    probe = site_broker.client("lms")
    probe.subscribe(f"ct/agent/{AGENT}/up/#")
    return probe


@pytest.fixture
def agent(site_broker: Broker, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[subprocess.Popen[bytes]]:
    """The agent process; a test may add ``[camera]`` lines by parametrizing it indirectly."""
    config = camera_agent_config(site_broker, getattr(request, "param", ""))
    with running_agent(AgentProc(tmp_path, config, env=broker_agent_env(site_broker))) as proc:
        yield proc


def call(lms: MqttProbe, command: str, params: dict[str, Any] | None = None, *, rid: str,
         timeout: float = 30) -> Response:
    since = len(lms.messages)
    lms.publish(agent_down(AGENT), json.dumps(
        {"type": "command", "request_id": rid, "command": command, "params": params or {}}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for m in list(lms.messages)[since:]:
            if m.topic == RESPONSE and json.loads(m.payload).get("request_id") == rid:
                return decode(Response, m.payload)
        time.sleep(0.02)
    raise TimeoutError(f"no response to {command} within {timeout} s")


def wait_online(lms: MqttProbe, timeout: float = 30) -> None:
    status = agent_up(AGENT, AgentUp.STATUS)
    deadline = time.monotonic() + timeout
    while not any(m.topic == status and json.loads(m.payload).get("state") == "online" for m in list(lms.messages)):
        if time.monotonic() > deadline:
            raise TimeoutError("the agent did not come online")
        time.sleep(0.02)


def events(lms: MqttProbe) -> list[Event]:
    return [decode(Event, m.payload) for m in list(lms.messages) if m.topic == EVENT]


def test_agent_with_cameras_answers_cctv_commands_over_mqtt(
    agent: subprocess.Popen[bytes], lms: MqttProbe
) -> None:
    wait_online(lms)
    empty = call(lms, "cctv_get_all_states", rid="s0")
    assert empty.success, empty.error
    assert empty.data["cameras"] == [] and empty.data["stream_server"]["running"]

    added = call(lms, "cctv_add_camera", {"camera_id": "lens", "source": "synthetic:black", "fps": 10,
                                          "width": 160, "height": 120, "frozen_s": 1}, rid="a1")
    assert added.success, added.error
    states = call(lms, "cctv_get_all_states", rid="s1")
    assert [c["camera_id"] for c in states.data["cameras"]] == ["lens"]

    deadline = time.monotonic() + 30
    while not any(e.kind == "cctv.covered" for e in events(lms)):
        assert time.monotonic() < deadline, "no cctv.covered event"
        time.sleep(0.05)
    covered = next(e for e in events(lms) if e.kind == "cctv.covered")
    assert covered.data["camera_id"] == "lens" and covered.severity == "warning"

    unknown = call(lms, "cctv_start_recording", {"camera_id": "nope"}, rid="b1")
    assert (unknown.success, unknown.error_code, unknown.error) == (
        False, "invalid_params", "unknown camera 'nope' (configured: lens)")
    traversal = call(lms, "cctv_delete_recording", {"name": "../../settings.json"}, rid="b2")
    assert traversal.error_code == "invalid_params" and "name" in (traversal.error or "")
    odd = call(lms, "cctv_add_camera", {"camera_id": "x", "source": 0, "width": 641, "height": 480}, rid="b3")
    assert odd.error_code == "invalid_params" and "bad resolution 641x480" in (odd.error or "")

    info = call(lms, "get_info", rid="i1")
    assert info.data["cctv"] is True
    assert agent.poll() is None


@pytest.mark.parametrize("agent", ['recordings_dir = "/dev/null/recordings"'], indirect=True)
def test_a_camera_part_that_cannot_start_leaves_the_agent_running(
    agent: subprocess.Popen[bytes], lms: MqttProbe, tmp_path: Path
) -> None:
    wait_online(lms)
    ping = call(lms, "ping", rid="p1")
    assert ping.success
    cctv = call(lms, "cctv_get_all_states", rid="c1")
    assert (cctv.success, cctv.error_code) == (False, "not_supported")
    assert agent.poll() is None
    assert "cameras disabled: the camera part cannot start" in (tmp_path / "agent-1.log").read_text()
