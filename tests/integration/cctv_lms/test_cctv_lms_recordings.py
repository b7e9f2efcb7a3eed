"""The cameras page's API against the real LMS and a real camera agent: a camera's recordings (listed only to
those who may watch), holds (operators who may watch), and the notice shown before viewing (``[console]``).

Who reaches these paths: any signed-in account (viewer and up) and API tokens. An account without the cameras
permission must learn nothing of the recordings (their names say when each room was filmed) and hold nothing."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.agents import AGENT
from tests.fixtures.brokers import Broker
from tests.integration.cctv_lms.camera_site import CAMERA, camera_agent, lms_process
from tests.integration.lms.lms_harness import LmsProcess, eventually, signed_in

pytestmark = pytest.mark.integration

NOTICE = "Cameras are watched for safety only; every view is logged."


@pytest.fixture
def lms(tmp_path: Path, site_broker: Broker) -> Iterator[LmsProcess]:
    with lms_process(site_broker, tmp_path / "lms", {"console": {"camera_notice": NOTICE}}) as proc:
        yield proc


@pytest.fixture
def agent(site_broker: Broker, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    with camera_agent(site_broker, tmp_path / "agent") as proc:
        yield proc


def test_recordings_are_listed_and_held_only_by_those_who_may_watch(
    lms: LmsProcess, agent: subprocess.Popen[bytes]
) -> None:
    lms.wait_agent(AGENT, timeout=30)
    assert lms.http.post(f"/api/cctv/{AGENT}/cameras", json={**CAMERA, "record": True}).status_code == 200
    path = f"/api/cctv/{AGENT}/recordings"

    def finished() -> list[dict[str, Any]]:
        answer = lms.http.get(path, params={"camera_id": "door"}).json()
        return [r for r in answer["data"]["recordings"] if not r["active"]]

    name = eventually(finished, 40, what="a finished recording")[0]["name"]
    assert name.startswith("door/")

    ops, ops_csrf = signed_in(lms, "ops", "operator")  # runs commands, may not watch
    guard, guard_csrf = signed_in(lms, "guard", "viewer", cameras=True)
    warden, warden_csrf = signed_in(lms, "warden", "operator", cameras=True)
    with contextlib.closing(ops), contextlib.closing(guard), contextlib.closing(warden):
        # the notice comes with the session, to every account
        for client in (ops, guard):
            assert client.get("/api/session").json()["data"]["camera_notice"] == NOTICE

        r = ops.get(path, params={"camera_id": "door"})
        assert r.status_code == 403 and "cameras permission" in r.json()["error"]
        r = ops.post(f"{path}/hold", json={"name": name}, headers={"X-CSRF-Token": ops_csrf})
        assert r.status_code == 403

        listed = guard.get(path, params={"camera_id": "door"}).json()["data"]["recordings"]
        assert name in {x["name"] for x in listed}
        r = guard.post(f"{path}/hold", json={"name": name}, headers={"X-CSRF-Token": guard_csrf})
        assert r.status_code == 403  # a viewer watches, holds nothing

        # bad input: a camera id or a recording name that could reach outside, unknown fields
        assert guard.get(path, params={"camera_id": "../x"}).status_code == 422
        assert guard.get(path, params={"limit": 0}).status_code == 422
        for body in ({"name": "../etc/passwd"}, {"name": name, "extra": 1}, {"hold": True}):
            r = warden.post(f"{path}/hold", json=body, headers={"X-CSRF-Token": warden_csrf})
            assert r.status_code == 422, (body, r.text)

        r = warden.post(f"{path}/hold", json={"name": name, "hold": True}, headers={"X-CSRF-Token": warden_csrf})
        assert r.status_code == 200 and r.json()["data"] == {"name": name, "held": True}, r.text
        listed = guard.get(path, params={"camera_id": "door"}).json()["data"]["recordings"]
        held = {x["name"]: x["held"] for x in listed}
        assert held[name] is True
        r = warden.post(f"{path}/hold", json={"name": name, "hold": False}, headers={"X-CSRF-Token": warden_csrf})
        assert r.status_code == 200 and r.json()["data"]["held"] is False
        # without the CSRF token a cookie session changes nothing
        assert warden.post(f"{path}/hold", json={"name": name}).status_code == 403

    audit = lms.http.get("/api/audit", params={"limit": 200}).json()["data"]["entries"]
    assert [e for e in audit if e["actor"] == "user:warden" and "cctv_hold_recording" in str(e)]
