"""CCTV management: camera configs CRUD per agent, the events log (from the ``site_events`` rule handler) and the
latest camera status."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.cloud.cloud_testkit import T0, Cloud, online

CAMERA = {"name": "Front door", "source": "rtsp://10.0.0.9/stream1", "fps": 10, "record": True}


@pytest.fixture
def fleet(cloud: Cloud) -> Cloud:
    cloud.heartbeat("s1", [online("a1")])
    cloud.heartbeat("s2", [online("b1")])
    return cloud


def events(cloud: Cloud, site_id: str, items: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    event = {"type": "site_events", "v": 1, "site_id": site_id,
             "events": [{"agent_id": a, "event": {"type": "event", "v": 1, **e}} for a, e in items]}
    answer: dict[str, Any] = cloud.invoke("site_events", event)
    return answer


def test_camera_config_crud(fleet: Cloud) -> None:
    base = "/api/cctv/agents/a1/cameras"
    assert fleet.get(base).json_body["data"] == {
        "agent_id": "a1", "version": 0, "cameras": {},
        "delivery": {"desired_rev": None, "reported_rev": None, "problem": None}}
    created = fleet.put(f"{base}/door", CAMERA, role="operator")
    assert created.status_code == 201
    assert created.json_body["data"]["codec"] == "mp4v" and created.json_body["data"]["fps"] == 10
    replaced = fleet.put(f"{base}/door", {**CAMERA, "fps": 20})
    assert replaced.status_code == 200 and replaced.json_body["data"]["fps"] == 20
    fleet.put(f"{base}/yard", {"name": "Yard", "source": 0})
    listed = fleet.get(base, role="viewer").json_body["data"]
    assert sorted(listed["cameras"]) == ["door", "yard"] and listed["version"] == 3
    assert fleet.get(f"{base}/yard").json_body["data"]["source"] == 0
    assert fleet.delete(f"{base}/yard", role="viewer").status_code == 403
    assert fleet.delete(f"{base}/yard").status_code == 200
    assert fleet.get(f"{base}/yard").status_code == 404
    assert fleet.delete(f"{base}/yard").status_code == 404
    assert fleet.put("/api/cctv/agents/nobody/cameras/x", CAMERA).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**CAMERA, "source": 64}, "source"),
        ({**CAMERA, "source": "file:///etc/passwd"}, "source"),
        ({**CAMERA, "source": "/home/teacher/lesson.mp4"}, "source"),  # a file: on site only
        ({**CAMERA, "source": "synthetic:noise"}, "source"),
        ({**CAMERA, "fps": 0}, "fps"),
        ({**CAMERA, "codec": "h264"}, "codec"),
        ({**CAMERA, "extra": 1}, "extra"),
        ({"source": 0}, "name"),
    ],
)
def test_bad_camera_config_is_400_and_writes_nothing(fleet: Cloud, body: dict[str, Any], field: str) -> None:
    response = fleet.put("/api/cctv/agents/a1/cameras/door", body)
    assert response.status_code == 400
    assert field in response.json_body["error"]["message"]
    assert fleet.get("/api/cctv/agents/a1/cameras").json_body["data"]["version"] == 0


def test_events_log_and_latest_status(fleet: Cloud) -> None:
    report = events(fleet, "s1", [
        ("a1", {"timestamp": T0 + 1, "kind": "camera.recording", "data": {"camera_id": "door"}}),
        ("a1", {"timestamp": T0 + 2, "kind": "disk.filling", "severity": "warning", "message": "90%"}),
        ("a1", {"timestamp": T0 + 3, "kind": "cctv.frozen", "severity": "error", "data": {"camera_index": 1}}),
        ("b1", {"timestamp": T0 + 4, "kind": "camera.recording", "data": {"camera_id": "x"}}),  # not s1's agent
    ])
    assert report == {"ok": True, "site_id": "s1", "stored": 3, "ignored": 1, "statuses": 2}
    log = fleet.get("/api/cctv/events?agent_id=a1").json_body["data"]["events"]
    assert [e["kind"] for e in log] == ["cctv.frozen", "disk.filling", "camera.recording"]
    assert fleet.get("/api/cctv/events?agent_id=b1").json_body["data"]["events"] == []
    day = fleet.get("/api/cctv/events?day=2023-11-14").json_body["data"]["events"]
    assert len(day) == 3

    status = fleet.get("/api/cctv/agents/a1/status").json_body["data"]["cameras"]
    assert status["door"]["state"] == "recording" and status["1"]["state"] == "frozen"
    # an older event does not overwrite a newer status
    events(fleet, "s1", [("a1", {"timestamp": T0, "kind": "camera.stopped", "data": {"camera_id": "door"}})])
    assert fleet.get("/api/cctv/agents/a1/status").json_body["data"]["cameras"]["door"]["state"] == "recording"

    assert fleet.get("/api/cctv/events").status_code == 200  # today's (issue 17: both filters are optional)
    assert fleet.get("/api/cctv/events?day=yesterday").status_code == 400
    bad = events(fleet, "s1", [("a1", {"timestamp": T0, "kind": "Bad Kind"})])
    assert bad["ok"] is False


def test_events_sent_again_are_stored_once(fleet: Cloud) -> None:
    """A site's outbox resends a ``site_events`` message whose acknowledgement the link lost (and a batch may hold
    the same event twice): the cloud keeps each event once; distinct events of the same millisecond stay apart."""
    batch = [
        ("a1", {"timestamp": T0 + 1, "kind": "disk.filling", "severity": "warning", "message": "90%"}),
        ("a1", {"timestamp": T0 + 1, "kind": "disk.filling", "severity": "warning", "message": "91%"}),
        ("a1", {"timestamp": T0 + 2, "kind": "cctv.frozen", "severity": "error", "data": {"camera_index": 1}}),
    ]
    assert events(fleet, "s1", batch)["ok"] is True
    assert events(fleet, "s1", batch)["ok"] is True  # the resend
    assert events(fleet, "s1", [batch[2], batch[2]])["ok"] is True  # twice in one batch
    log = fleet.get("/api/cctv/events?agent_id=a1").json_body["data"]["events"]
    assert sorted((e["kind"], e["message"]) for e in log) == [
        ("cctv.frozen", ""), ("disk.filling", "90%"), ("disk.filling", "91%")]


def test_events_stamped_an_hour_ahead_or_behind_are_all_stored_and_listed(fleet: Cloud) -> None:
    """A clock stepped an hour either way on an agent (which stamps its events) or an LMS: every event is kept and
    listed, page by page, in stamp order, whatever its stamp says against the cloud's clock (issue 17's suspects)."""
    stamps = [T0 + 3600 + i for i in range(3)] + [T0 - 3600 + i for i in range(3)] + [T0 + i for i in range(3)]
    items = [("a1", {"timestamp": at, "kind": "health.chaos", "data": {"seq": n}}) for n, at in enumerate(stamps)]
    assert events(fleet, "s1", items)["stored"] == 9
    seqs: list[int] = []
    cursor = ""
    while True:
        page = fleet.get(f"/api/cctv/events?agent_id=a1&limit=4{cursor}").json_body["data"]
        seqs += [e["data"]["seq"] for e in page["events"]]
        if not page.get("cursor"):
            break
        cursor = f"&cursor={page['cursor']}"
    assert seqs == [2, 1, 0, 8, 7, 6, 5, 4, 3]  # newest stamp first
