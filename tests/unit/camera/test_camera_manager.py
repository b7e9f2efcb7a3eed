"""The camera manager with real capture threads on synthetic sources and files written by the test."""

from __future__ import annotations

import http.client
import json
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edge.agent.camera.errors import CameraError
from edge.agent.camera.registry import MAX_CONFIG_BYTES
from shared.commands import validate_params
from shared.errors import CommandError, ErrorCode
from tests.unit.camera.conftest import Cameras, decoded_jpeg, wait_until

SMALL = {"width": 160, "height": 120}


def frames_in(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


def test_recording_across_segment_boundaries_keeps_every_frame(cameras: Cameras) -> None:
    cameras.add("c1", "synthetic:moving", segment_s=1, record=True, **SMALL)
    wait_until(lambda: len([r for r in cameras.call("cctv_get_recordings")["recordings"] if not r["active"]]) >= 3,
               "three closed segments")
    assert cameras.call("cctv_stop_recording", {"camera_id": "c1"}) == {"camera_id": "c1", "recording": False}
    state = cameras.state("c1")
    assert state["segment"] is None and not state["recording"]
    listed = cameras.call("cctv_get_recordings", {"camera_id": "c1"})
    files = [cameras.manager.recordings_dir / r["name"] for r in reversed(listed["recordings"])]
    assert len(files) >= 4 and all(f.name.startswith("c1_") and f.suffix == ".mp4" for f in files)
    counts = [frames_in(f) for f in files]
    assert sum(counts) == state["recorded_frames"]  # no frame lost at a rollover
    for n in counts[:-1]:  # full segments: 1 s of video at 10 fps (fewer only after a stall of over 1 s)
        assert 5 <= n <= 10, counts
    cap = cv2.VideoCapture(str(files[0]))
    assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT), cap.get(cv2.CAP_PROP_FPS)) == (
        160, 120, 10)
    cap.release()


def test_health_events_for_frozen_and_covered_sources(cameras: Cameras) -> None:
    cameras.add("frozen", "synthetic:frozen", frozen_s=1, **SMALL)
    cameras.add("black", "synthetic:black", frozen_s=1, **SMALL)
    wait_until(lambda: "cctv.frozen" in cameras.kinds("frozen"), "cctv.frozen")
    wait_until(lambda: "cctv.covered" in cameras.kinds("black"), "cctv.covered")
    event = next(e for e in cameras.events if e.kind == "cctv.covered")
    assert event.data["camera_id"] == "black" and event.data["brightness"] == 0.0 and event.severity == "warning"
    assert "frozen" in cameras.state("frozen")["health"]
    wait_until(lambda: cameras.state("frozen")["restarts"] >= 1, "the watchdog restarting frozen capture")
    assert "cctv.frozen" not in cameras.kinds("black")  # a black image is covered, not frozen
    assert cameras.state("black")["health"] == ["covered"]
    assert [e["kind"] for e in cameras.state("black")["events"]] == ["cctv.covered"]


def read_part(resp: http.client.HTTPResponse) -> bytes:
    """One part of a multipart/x-mixed-replace body: its JPEG bytes."""
    line = resp.readline()
    while line in (b"\r\n", b"\n"):
        line = resp.readline()
    assert line.strip() == b"--classtopframe", line
    headers = {}
    while (line := resp.readline()) not in (b"\r\n", b""):
        key, value = line.decode().split(":", 1)
        headers[key.strip().lower()] = value.strip()
    assert headers["content-type"] == "image/jpeg"
    return resp.read(int(headers["content-length"]))


def test_mjpeg_stream_read_by_an_http_client(cameras: Cameras) -> None:
    cameras.add("c1", "synthetic:moving", **SMALL)
    host, port = cameras.manager.server.address  # type: ignore[union-attr]
    token = cameras.call("cctv_get_config")["stream_server"]["token"]
    assert len(token) >= 32
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request("GET", f"/cameras/c1/stream.mjpg?token={token}")
    refused = conn.getresponse()
    assert refused.status == 409 and b"not streaming" in refused.read()
    conn.request("GET", f"/cameras/nope/stream.mjpg?token={token}")
    unknown = conn.getresponse()
    assert unknown.status == 404 and unknown.read() == b"unknown camera nope\n"
    for path in ["/cameras/c1/snapshot.jpg", f"/cameras/c1/snapshot.jpg?token={token[:-1]}", "/x?token="]:
        conn.request("GET", path)  # no token, a wrong one, an empty one: nothing is shown
        denied = conn.getresponse()
        assert denied.status == 403 and b"token" in denied.read(), path
    conn.close()

    started = cameras.call("cctv_start_streaming", {"camera_id": "c1"})
    assert started["url"] == f"http://{host}:{port}/cameras/c1/stream.mjpg?token={token}"
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request("GET", started["url"].split(str(port), 1)[1])
    resp = conn.getresponse()
    assert resp.status == 200
    assert resp.getheader("Content-Type") == "multipart/x-mixed-replace; boundary=classtopframe"
    images = [decoded_jpeg(read_part(resp)) for _ in range(3)]
    assert [img.shape for img in images] == [(120, 160, 3)] * 3
    assert not np.array_equal(images[0], images[2])  # live frames, not one picture repeated
    assert cameras.state("c1")["streaming"]
    cameras.call("cctv_stop_streaming", {"camera_id": "c1"})
    rest = resp.read()  # the server ends the stream
    assert rest.count(b"--classtopframe") <= 30
    conn.close()

    snap = http.client.HTTPConnection(host, port, timeout=10)
    snap.request("GET", f"/cameras/c1/snapshot.jpg?token={token}")
    shot = snap.getresponse()
    assert shot.status == 200 and shot.getheader("Content-Type") == "image/jpeg"
    assert decoded_jpeg(shot.read()).shape == (120, 160, 3)
    snap.close()


@pytest.mark.parametrize(
    ("command", "params", "expected"),
    [
        ("cctv_add_camera", {"camera_id": "c", "source": 0, "width": 641, "height": 480}, "bad resolution 641x480"),
        ("cctv_add_camera", {"camera_id": "c", "source": 0, "width": 640}, "bad resolution: give both"),
        ("cctv_add_camera", {"camera_id": "c", "source": "ftp://x/y"}, "source must be"),
        ("cctv_add_camera", {"camera_id": "c", "source": 99}, "device index must be 0..63"),
        ("cctv_add_camera", {"camera_id": "../c", "source": 0}, "camera_id"),
        ("cctv_add_camera", {"camera_id": "c", "source": 0, "fps": 0}, "fps"),
        ("cctv_start_recording", {}, "camera_id"),
        ("cctv_delete_recording", {"name": "../../etc/passwd"}, "name"),
        ("cctv_get_recordings", {"limit": 0}, "limit"),
        ("cctv_get_all_states", {"x": 1}, "x"),
        ("cctv_snapshot", {"camera_id": "c", "upload_url": "file:///etc/passwd"}, "upload_url"),
    ],
)
def test_bad_params_are_refused_before_any_camera_is_touched(command: str, params: dict[str, Any],
                                                             expected: str) -> None:
    with pytest.raises(CommandError) as err:
        validate_params(command, params)
    assert err.value.code is ErrorCode.INVALID_PARAMS
    assert expected in err.value.message and command in err.value.message


@pytest.mark.parametrize(
    ("command", "params", "expected"),
    [
        ("cctv_start_recording", {"camera_id": "nope"}, "unknown camera 'nope' (configured: c1)"),
        ("cctv_get_camera_state", {"camera_id": 3}, "unknown camera '3' (configured: c1)"),
        ("cctv_get_camera_resolutions", {"camera_id": "nope"}, "unknown camera 'nope' (configured: c1)"),
        ("cctv_cleanup_storage", {"camera_id": "nope"}, "unknown camera 'nope' (configured: c1)"),
        ("cctv_add_camera", {"camera_id": "f", "source": "/no/such/file.mp4"},
         "source /no/such/file.mp4: no such file"),
        ("cctv_delete_recording", {"name": "c1/missing.mp4"}, "no recording 'c1/missing.mp4'"),
    ],
)
def test_unknown_cameras_and_sources_get_clear_errors(cameras: Cameras, command: str, params: dict[str, Any],
                                                     expected: str) -> None:
    cameras.add("c1", "synthetic:moving", **SMALL)
    with pytest.raises(CameraError) as err:
        cameras.call(command, params)
    assert err.value.message == expected
    assert [c["camera_id"] for c in cameras.call("cctv_get_all_states")["cameras"]] == ["c1"]


def test_config_survives_a_restart_and_recording_resumes(tmp_path: Path) -> None:
    first = Cameras(tmp_path / "state")
    try:
        first.add("door", "synthetic:moving", name="Front door", record=True, max_age_h=48, **SMALL)
        first.add("hall", "synthetic:moving", **SMALL)
        first.call("cctv_remove_camera", {"camera_id": "hall"})
        first.call("cctv_stop_recording", {"camera_id": "door"})
        first.call("cctv_start_recording", {"camera_id": "door"})
        config = first.call("cctv_get_config")
    finally:
        first.stop()
    assert config["cameras"] == [{"camera_id": "door", "name": "Front door", "source": "synthetic:moving",
                                  "fps": 10.0, "record": True, "max_age_h": 48.0, **SMALL}]
    second = Cameras(tmp_path / "state")
    try:
        assert second.call("cctv_get_config")["cameras"] == config["cameras"]
        wait_until(lambda: second.state("door")["segment"], "recording resumed after the restart")
    finally:
        second.stop()


def test_config_stays_small_enough_for_a_device_shadow(cameras: Cameras) -> None:
    for i in range(8):
        cameras.add(f"camera-{i}", f"rtsp://user:pass@10.0.0.{i}:554/stream1?channel=1", name=f"Room {i} camera",
                    width=1280, height=720, record=True, max_age_h=720, max_bytes=50 * 1024**3, segment_s=600)
    doc = cameras.call("cctv_get_config")
    size = len(json.dumps({"v": doc["v"], "cameras": doc["cameras"]}, separators=(",", ":")))
    assert size <= MAX_CONFIG_BYTES < 8 * 1024
    with pytest.raises(CameraError) as err:
        cameras.add("camera-9", "synthetic:moving")
    assert err.value.message == "this agent already has 8 cameras (max_cameras)"


def test_corrupt_config_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "state" / "camera" / "cameras.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"v": 1, "cameras": [{"camera_id": "x", "source": "ftp://nope"}]}')
    cams = Cameras(tmp_path / "state")
    try:
        assert cams.call("cctv_get_all_states")["cameras"] == []
        assert path.with_name("cameras.json.bad").exists()
    finally:
        cams.stop()


def test_a_broken_source_does_not_stop_the_other_cameras(cameras: Cameras, tmp_path: Path) -> None:
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"this is not a video" * 100)
    cameras.add("good", "synthetic:moving", **SMALL)
    cameras.add("bad", str(bad))
    wait_until(lambda: "cctv.no_frames" in cameras.kinds("bad"), "cctv.no_frames for the broken source")
    state = cameras.state("bad")
    assert state["state"] == "reconnecting" and "cannot open" in state["error"]
    before = cameras.state("good")["frames"]
    wait_until(lambda: cameras.state("good")["frames"] > before + 5, "the good camera still capturing")


def test_a_video_file_written_by_the_test_is_a_camera(cameras: Cameras, tmp_path: Path) -> None:
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"MJPG"), 10, (160, 120))
    assert writer.isOpened()
    for i in range(5):
        writer.write(np.full((120, 160, 3), 40 * i, np.uint8))
    writer.release()
    cameras.add("file", str(video))
    wait_until(lambda: cameras.state("file")["frames"] > 8, "the file looping")  # more frames than it holds
    assert cameras.state("file")["resolution"] == [160, 120]
    assert cameras.call("cctv_get_camera_resolutions", {"camera_id": "file"}) == {
        "camera_id": "file", "resolutions": [[160, 120]], "scaled": True}
    found = cameras.call("cctv_detect_cameras", {"max_index": 1})
    assert found["configured"] == [{"camera_id": "file", "source": str(video), "state": "running"}]
    assert all(d["index"] <= 1 for d in found["devices"])


def test_retention_runs_continuously_and_spares_held_recordings(tmp_path: Path) -> None:
    folder = tmp_path / "state" / "recordings" / "c1"
    folder.mkdir(parents=True)
    for i in range(5):
        (folder / f"c1_old{i}.mp4").write_bytes(b"\0" * 700 * 1024)
        os.utime(folder / f"c1_old{i}.mp4", (1e9 + i, 1e9 + i))
    cams = Cameras(tmp_path / "state", retention_interval_s=0.2)
    try:
        assert cams.call("cctv_hold_recording", {"name": "c1/c1_old0.mp4"}) == {"name": "c1/c1_old0.mp4",
                                                                                 "held": True}
        cams.add("c1", "synthetic:moving", max_bytes=2 * 1024 * 1024, **SMALL)  # retention applies from now
        wait_until(lambda: len(cams.call("cctv_get_recordings")["recordings"]) == 2, "retention by size")
        left = cams.call("cctv_get_recordings")["recordings"]
        assert [(r["name"], r["held"]) for r in left] == [("c1/c1_old4.mp4", False), ("c1/c1_old0.mp4", True)]
        info = cams.call("cctv_get_storage_info", {"camera_id": "c1"})
        assert info["cameras"]["c1"] == {"bytes": 2 * 700 * 1024, "count": 2, "held": 1,
                                         "max_bytes": 2 * 1024 * 1024, "max_age_h": None}
        # cleanup on demand with a stricter limit: everything but the held one
        assert cams.call("cctv_cleanup_storage", {"camera_id": "c1", "max_bytes": 0}) == {
            "deleted": ["c1/c1_old4.mp4"], "count": 1}
        with pytest.raises(CameraError):
            cams.call("cctv_delete_recording", {"name": "c1/c1_old0.mp4"})
        cams.call("cctv_hold_recording", {"name": "c1/c1_old0.mp4", "hold": False})
        assert cams.call("cctv_delete_recording", {"name": "c1/c1_old0.mp4"}) == {"deleted": "c1/c1_old0.mp4"}
    finally:
        cams.stop()


def test_disk_alerts_and_emergency_cleanup_keep_held_recordings(tmp_path: Path) -> None:
    huge = 10**9  # MB: more than any disk, so the disk is "full"
    folder = tmp_path / "state" / "recordings" / "c1"
    folder.mkdir(parents=True)
    for i in range(3):
        (folder / f"c1_{i}.mp4").write_bytes(b"\0" * 1000)
    (tmp_path / "state" / "camera").mkdir()
    (tmp_path / "state" / "camera" / "holds.json").write_text('{"held": ["c1/c1_1.mp4"]}')
    cams = Cameras(tmp_path / "state", disk_warn_free_mb=huge, disk_reserve_mb=huge)
    try:
        assert cams.manager.recordings_dir / "c1" == folder
        cams.manager.check_disk()  # (the housekeeping thread may have run it first)
        assert [p.name for p in folder.iterdir()] == ["c1_1.mp4"]
        assert cams.kinds() == ["cctv.disk_full", "cctv.disk_low"]
        full = cams.events[0]
        assert full.severity == "error" and "disk full" in full.message
        cams.manager.check_disk()
        assert cams.kinds() == ["cctv.disk_full", "cctv.disk_low"]  # reported once, not on every check
        assert cams.call("cctv_get_storage_info")["alerts"] == ["cctv.disk_full", "cctv.disk_low"]
    finally:
        cams.stop()


def test_a_recording_that_cannot_be_written_is_reported_and_retried(cameras: Cameras) -> None:
    blocker = cameras.manager.recordings_dir / "c1"
    blocker.write_text("a file where the camera's folder should be")
    cameras.add("c1", "synthetic:moving", record=True, segment_s=1, **SMALL)
    wait_until(lambda: "cctv.record_error" in cameras.kinds("c1"), "cctv.record_error")
    event = next(e for e in cameras.events if e.kind == "cctv.record_error")
    assert event.severity == "error" and event.message.startswith("camera c1: recording failed:")
    assert cameras.kinds("c1").count("cctv.record_error") == 1  # once, not once per frame
    assert cameras.state("c1")["recording"]  # still wanted: retried on every frame
    blocker.unlink()
    wait_until(lambda: "cctv.record_error_cleared" in cameras.kinds("c1"), "recording again")
    wait_until(lambda: cameras.state("c1")["segment"], "a segment being written")
