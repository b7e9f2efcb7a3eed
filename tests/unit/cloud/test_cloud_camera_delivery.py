"""Camera configs delivered through the agent's ``cctv:`` shadow (moto's iot-data): the whole set in the agent's
form with the record's version as ``rev``, what the LMS reports shown per camera, the 8 KB budget checked before
anything is stored, stale revisions never written over newer ones, and who may write a camera config."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from chalicelib import container
from chalicelib.services.camera_delivery import agent_camera
from shared.cctv import CameraConfig, CameraResult, CamerasDesired, CamerasReported
from shared.messages.camera_shadow import cameras_desired_update, cameras_reported_update
from shared.topics import cctv_shadow_name, site_thing_name
from tests.unit.cloud.cloud_testkit import NS, Cloud

THING = site_thing_name(NS, "s1")
SHADOW = cctv_shadow_name("a1")
BASE = "/api/cctv/agents/a1/cameras"
DOOR = {"name": "Door", "source": "synthetic:moving", "width": 160, "height": 120, "fps": 10, "record": True}


def shadow() -> dict[str, Any]:
    raw = boto3.client("iot-data", region_name="us-east-1").get_thing_shadow(thingName=THING, shadowName=SHADOW)
    document: dict[str, Any] = json.loads(raw["payload"].read())
    return document


def report(rev: int, *results: CameraResult) -> None:
    """What the site's LMS writes once the agent answered."""
    container.get().shadows.update(THING, SHADOW, cameras_reported_update(CamerasReported(rev=rev,
                                                                                          cameras=list(results))))


def listed(cloud: Cloud) -> dict[str, Any]:
    response = cloud.get(BASE, role="viewer")
    assert response.status_code == 200, response.json_body
    data: dict[str, Any] = response.json_body["data"]
    return data


def test_the_whole_set_reaches_the_shadow_and_the_report_shows_per_camera(site: Cloud) -> None:
    created = site.put(f"{BASE}/door", DOOR, role="operator")
    assert created.status_code == 201, created.json_body
    assert created.json_body["data"]["delivery"] == {"status": "pending"}
    desired = shadow()["state"]["desired"]
    assert desired == {"v": 1, "rev": 1, "cameras": [{"camera_id": "door", "name": "Door", "source": "synthetic:moving",
                                                       "width": 160, "height": 120, "fps": 10, "record": True,
                                                       "max_age_h": 168}]}
    CameraConfig.model_validate(desired["cameras"][0])  # the agent's own model takes it

    assert site.put(f"{BASE}/odd", {**DOOR, "width": 161}, role="operator").status_code == 201  # the agent decides
    site.put(f"{BASE}/off", {**DOOR, "enabled": False}, role="operator")
    assert [c["camera_id"] for c in shadow()["state"]["desired"]["cameras"]] == ["door", "odd"]  # not "off"
    view = listed(site)
    assert view["version"] == 3 and view["delivery"] == {"desired_rev": 3, "reported_rev": None, "problem": None}
    assert {c: v["delivery"]["status"] for c, v in view["cameras"].items()} == {
        "door": "pending", "odd": "pending", "off": "disabled"}

    report(3, CameraResult(camera_id="door", status="applied"),
           CameraResult(camera_id="odd", status="rejected", reason="bad resolution 161x120: must be even"))
    view = listed(site)
    assert view["cameras"]["door"]["delivery"] == {"status": "applied"}
    assert view["cameras"]["odd"]["delivery"] == {"status": "rejected",
                                                  "reason": "bad resolution 161x120: must be even"}
    assert site.get(f"{BASE}/odd").json_body["data"]["delivery"]["status"] == "rejected"

    assert site.delete(f"{BASE}/odd", role="operator").status_code == 200
    assert [c["camera_id"] for c in shadow()["state"]["desired"]["cameras"]] == ["door"]  # arrays replaced whole
    assert listed(site)["cameras"]["door"]["delivery"] == {"status": "pending"}  # revision 4 not answered yet


def test_a_set_too_large_for_the_shadow_is_400_and_nothing_is_stored(site: Cloud) -> None:
    url = "rtsp://10.0.0.9/" + "x" * 1900
    for i in range(3):
        assert site.put(f"{BASE}/c{i}", {**DOOR, "source": url}, role="operator").status_code == 201
    response = site.put(f"{BASE}/c3", {**DOOR, "source": url}, role="operator")
    assert response.status_code == 400 and "8192-byte limit" in response.json_body["error"]["message"]
    assert listed(site)["version"] == 3 and shadow()["state"]["desired"]["rev"] == 3
    assert site.put(f"{BASE}/c3", {**DOOR, "enabled": False, "source": url}, role="operator").status_code == 201


def test_a_newer_revision_in_the_shadow_is_never_replaced_by_an_older_one(site: Cloud) -> None:
    newer = CamerasDesired(rev=9, cameras=[agent_camera("other", {**DOOR})])
    container.get().shadows.update(THING, SHADOW, cameras_desired_update(newer))
    site.put(f"{BASE}/door", DOOR, role="operator")  # record version 1 < 9
    assert shadow()["state"]["desired"]["rev"] == 9
    assert [c["camera_id"] for c in shadow()["state"]["desired"]["cameras"]] == ["other"]


def test_without_an_iot_thing_the_config_is_stored_and_shown_undelivered(site: Cloud) -> None:
    response = site.put("/api/cctv/agents/b1/cameras/door", DOOR, role="operator")
    assert response.status_code == 201, response.json_body
    delivery = response.json_body["data"]["delivery"]
    assert delivery["status"] == "undelivered" and "does not exist" in delivery["reason"]
    view = site.get("/api/cctv/agents/b1/cameras").json_body["data"]
    assert view["version"] == 1 and view["cameras"]["door"]["delivery"]["status"] == "undelivered"


def test_only_operators_of_the_agents_site_write_camera_configs(site: Cloud) -> None:
    container_ = container.get()
    site.tokens["s2-operator"] = container_.tokens.create("operator", "s2 op", site_ids=["s2"]).secret
    site.tokens["s1-operator"] = container_.tokens.create("operator", "s1 op", site_ids=["s1"]).secret
    assert site.put(f"{BASE}/door", DOOR, role="viewer").status_code == 403
    assert site.put(f"{BASE}/door", DOOR, role="s2-operator").status_code == 404  # another site's agent: unknown
    assert site.delete(f"{BASE}/door", role="s2-operator").status_code == 404
    assert site.get(BASE, role="s2-operator").status_code == 404
    assert listed(site)["version"] == 0
    assert site.put(f"{BASE}/door", DOOR, role="s1-operator").status_code == 201


@pytest.mark.parametrize("source", ["/etc/shadow", "file:///etc/passwd", "/dev/video0", "concat:/a|/b",
                                    "synthetic:../../x", "HTTP://x"])
def test_the_cloud_api_never_names_a_file_as_a_source(site: Cloud, source: str) -> None:
    response = site.put(f"{BASE}/door", {**DOOR, "source": source}, role="operator")
    assert response.status_code == 400 and "source" in response.json_body["error"]["message"]
    assert listed(site)["version"] == 0


def test_the_commands_api_refuses_the_shadow_only_command(site: Cloud) -> None:
    body = {"command": "cctv_apply_config", "agent_ids": ["a1"], "params": {"rev": 99, "cameras": []}}
    response = site.post("/api/commands", body, role="admin")
    assert response.status_code == 400 and "shadow" in response.json_body["error"]["message"]


@pytest.mark.parametrize(("command", "params"), [("rotate_broker_password", {"password": "p" * 32}),
                                                  ("trust_site_ca", {"ca_pems": ["-----BEGIN CERTIFICATE-----x"]})])
def test_the_commands_api_refuses_the_lms_only_rotation_commands(site: Cloud, command: str,
                                                                  params: dict[str, Any]) -> None:
    """Issue 19: credential and CA rotation reach agents only from their own LMS, never from the cloud."""
    body = {"command": command, "agent_ids": ["a1"], "params": params}
    response = site.post("/api/commands", body, role="admin")
    assert response.status_code == 400 and "only by the site's LMS" in response.json_body["error"]["message"]
