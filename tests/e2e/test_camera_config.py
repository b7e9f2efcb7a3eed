"""Camera configuration set centrally reaches the agents through their ``cctv:`` device shadows, across all tiers
(the local twin): cloud API ``PUT /api/cctv/agents/{id}/cameras/{camera_id}`` -> the camera shadow (desired) ->
LMS -> the agent records (synthetic source) -> the LMS reports per camera -> the cloud shows it applied. A camera
with an invalid resolution is reported rejected with the agent's reason and leaves the others recording; an agent
that is off gets its cameras when it returns."""

from __future__ import annotations

from typing import Any

import pytest

from infra.local.twin import Twin
from tests.e2e.test_shadow_settings import call, eventually

pytestmark = pytest.mark.e2e

AGENTS = ("cam-1", "cam-2")
CAMERA_AGENTS = AGENTS
#: small and slow, so that recording costs little CPU
DOOR = {"name": "Door", "source": "synthetic:moving", "width": 160, "height": 120, "fps": 5, "record": True,
        "segment_s": 10}


def cloud_cameras(twin: Twin, agent_id: str) -> dict[str, Any]:
    status, body = call(f"{twin.api_url}/api/cctv/agents/{agent_id}/cameras", twin.admin_token)
    assert status == 200, body
    cameras: dict[str, Any] = body["data"]["cameras"]
    return cameras


def delivery(twin: Twin, agent_id: str, camera_id: str) -> dict[str, Any]:
    result: dict[str, Any] = cloud_cameras(twin, agent_id).get(camera_id, {}).get("delivery", {})
    return result


def agent_cameras(twin: Twin, agent_id: str) -> dict[str, dict[str, Any]] | None:
    """What the agent itself runs, asked through the LMS's own API (cctv_get_all_states); ``None`` when it does not
    answer."""
    status, body = call(f"{twin.lms_url}/api/cctv/{agent_id}/state", twin.lms_token,
                        context=twin.lms_ssl_context())
    if status != 200 or not body.get("success"):
        return None
    return {c["camera_id"]: c for c in body["data"]["cameras"]}


def put_camera(twin: Twin, agent_id: str, camera_id: str, body: dict[str, Any]) -> tuple[int, Any]:
    return call(f"{twin.api_url}/api/cctv/agents/{agent_id}/cameras/{camera_id}", twin.admin_token, "PUT", body)


def test_a_camera_set_in_the_cloud_records_and_a_bad_one_is_rejected_alone(twin: Twin) -> None:
    status, body = put_camera(twin, "cam-1", "door", DOOR)
    assert status == 201, body
    door = eventually(lambda: (c := (agent_cameras(twin, "cam-1") or {}).get("door")) and c["recorded_frames"] > 0
                      and c, 60, what="door recording on cam-1")
    assert door["recording"] and door["resolution"] == [160, 120]
    eventually(lambda: delivery(twin, "cam-1", "door") == {"status": "applied"}, what="door reported applied")

    status, body = put_camera(twin, "cam-1", "odd", {**DOOR, "name": "Odd", "width": 161})
    assert status == 201, body  # the cloud checks bounds; the agent decides what it can record
    rejected = eventually(lambda: (d := delivery(twin, "cam-1", "odd"))["status"] == "rejected" and d,
                          what="odd reported rejected")
    assert "161x120" in rejected["reason"] and "even" in rejected["reason"]
    assert delivery(twin, "cam-1", "door") == {"status": "applied"}
    after = agent_cameras(twin, "cam-1")
    assert after is not None and "odd" not in after
    assert after["door"]["recording"] and after["door"]["frames"] >= door["frames"]  # same worker: not restarted

    # a file is never a source the cloud may set: 400, nothing stored or delivered
    status, body = put_camera(twin, "cam-1", "file", {**DOOR, "source": "/etc/passwd"})
    assert status == 400, body
    assert sorted(cloud_cameras(twin, "cam-1")) == ["door", "odd"]

    # removed in the cloud: removed on the agent (its recordings stay)
    status, body = call(f"{twin.api_url}/api/cctv/agents/cam-1/cameras/door", twin.admin_token, "DELETE")
    assert status == 200, body
    eventually(lambda: agent_cameras(twin, "cam-1") == {}, what="door removed from cam-1")


def test_an_agent_that_is_off_gets_its_cameras_when_it_returns(twin: Twin) -> None:
    twin.agents["cam-2"].stop()
    status, body = put_camera(twin, "cam-2", "yard", {**DOOR, "name": "Yard", "record": False})
    assert status == 201, body
    assert delivery(twin, "cam-2", "yard") == {"status": "pending"}
    twin.start_agent("cam-2")
    eventually(lambda: "yard" in (agent_cameras(twin, "cam-2") or {}), 90, what="yard on cam-2 after its return")
    eventually(lambda: delivery(twin, "cam-2", "yard") == {"status": "applied"}, what="yard reported applied")
