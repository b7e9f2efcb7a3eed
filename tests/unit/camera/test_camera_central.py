"""Cameras set in the cloud (``cctv_apply_config``): each camera applied or rejected on its own, without touching the
others' workers; cameras the cloud no longer lists removed, on-site cameras left alone; stale revisions refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edge.agent.camera.errors import CameraError
from shared.cctv import MAX_REASON_BYTES
from shared.errors import ErrorCode
from tests.unit.camera.conftest import Cameras, wait_until

DOOR = {"camera_id": "door", "source": "synthetic:moving", "fps": 10, "width": 160, "height": 120, "record": True,
        "segment_s": 5}


def apply(cameras: Cameras, rev: int, *configs: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = cameras.call("cctv_apply_config", {"rev": rev, "cameras": list(configs)})
    return result


def statuses(result: dict[str, Any]) -> dict[str, str]:
    return {c["camera_id"]: c["status"] for c in result["cameras"]}


def test_a_camera_from_the_cloud_records_and_a_bad_one_is_rejected_alone(cameras: Cameras) -> None:
    result = apply(cameras, 1, DOOR)
    assert result == {"v": 1, "rev": 1, "cameras": [{"camera_id": "door", "status": "applied"}]}
    wait_until(lambda: cameras.state("door")["recorded_frames"] > 0, "door recording")
    door = cameras.manager.workers["door"]

    odd = {**DOOR, "camera_id": "odd", "width": 161}
    result = apply(cameras, 2, DOOR, odd)
    assert statuses(result) == {"door": "applied", "odd": "rejected"}
    reason = result["cameras"][1]["reason"]
    assert "resolution 161x120" in reason and "even" in reason
    assert cameras.manager.workers["door"] is door  # unchanged: its worker was not restarted
    assert "odd" not in cameras.manager.workers

    # record off for door: no restart either; then a real change restarts only door
    apply(cameras, 3, {**DOOR, "record": False})
    assert cameras.manager.workers["door"] is door and not cameras.state("door")["recording"]
    apply(cameras, 4, {**DOOR, "fps": 5})
    assert cameras.manager.workers["door"] is not door and cameras.state("door")["fps"] is not None


def test_cameras_the_cloud_drops_are_removed_but_on_site_ones_stay(cameras: Cameras) -> None:
    cameras.add("local", "synthetic:black", width=160, height=120)
    apply(cameras, 1, DOOR, {**DOOR, "camera_id": "yard"})
    assert sorted(cameras.manager.workers) == ["door", "local", "yard"]
    result = apply(cameras, 2, DOOR)
    assert statuses(result) == {"door": "applied"}
    assert sorted(cameras.manager.workers) == ["door", "local"]
    assert apply(cameras, 3)["cameras"] == []
    assert sorted(cameras.manager.workers) == ["local"]  # added on site: not the cloud's to remove


def test_a_rejected_change_keeps_the_camera_running_as_it_was(cameras: Cameras) -> None:
    apply(cameras, 1, DOOR)
    door = cameras.manager.workers["door"]
    result = apply(cameras, 2, {**DOOR, "codec": "VP8"})
    assert statuses(result) == {"door": "rejected"} and "codec" in result["cameras"][0]["reason"]
    assert cameras.manager.workers["door"] is door and cameras.manager.registry.get("door").codec == "mp4v"
    apply(cameras, 3)  # still the cloud's camera: removed when the cloud drops it
    assert "door" not in cameras.manager.workers


@pytest.mark.parametrize("source", ["/etc/passwd", "/home/teacher/lesson.mp4", "file:///etc/passwd", "../x"])
def test_the_cloud_cannot_make_the_agent_open_a_file(cameras: Cameras, tmp_path: Path, source: str) -> None:
    video = tmp_path / "lesson.mp4"
    video.write_bytes(b"not really")
    result = apply(cameras, 1, {**DOOR, "source": str(video) if "lesson" in source else source})
    assert statuses(result) == {"door": "rejected"}
    assert "door" not in cameras.manager.workers and "door" not in cameras.manager.registry.cameras


def test_stale_revisions_are_refused_and_the_state_survives_a_restart(cameras: Cameras, tmp_path: Path) -> None:
    apply(cameras, 5, DOOR)
    with pytest.raises(CameraError) as refused:
        apply(cameras, 4)
    assert refused.value.code is ErrorCode.CONFLICT and "door" in cameras.manager.workers
    assert apply(cameras, 5, DOOR)["cameras"] == [{"camera_id": "door", "status": "applied"}]  # same rev: idempotent
    cameras.stop()
    again = Cameras(tmp_path / "state")
    try:
        assert again.manager.central.rev == 5 and again.manager.central.managed == {"door"}
        with pytest.raises(CameraError):
            apply(again, 4)
        apply(again, 6)
        assert "door" not in again.manager.workers
    finally:
        again.stop()


def test_reasons_are_short_and_limits_of_the_agent_are_reasons(cameras: Cameras) -> None:
    many = [{**DOOR, "camera_id": f"c{i}", "record": False, "name": "é" * 64} for i in range(9)]
    result = apply(cameras, 1, *many)  # max_cameras is 8
    assert [c["status"] for c in result["cameras"]].count("rejected") == 1
    reason = next(c["reason"] for c in result["cameras"] if c["status"] == "rejected")
    assert "max_cameras" in reason
    long_name = apply(cameras, 2, {**DOOR, "camera_id": "c0", "name": "x" * 500, "width": 7})
    assert all(len(c.get("reason", "").encode()) <= MAX_REASON_BYTES for c in long_name["cameras"])


def test_a_corrupt_state_file_is_reported_and_forgotten(tmp_path: Path) -> None:
    state = tmp_path / "state" / "camera"
    state.mkdir(parents=True)
    (state / "central.json").write_text("{not json")
    cams = Cameras(tmp_path / "state")
    try:
        assert cams.manager.central.rev == -1 and cams.manager.central.managed == set()
        assert statuses(apply(cams, 0, DOOR)) == {"door": "applied"}
    finally:
        cams.stop()


def test_an_unexpected_failure_of_one_camera_leaves_the_others(
    cameras: Cameras, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = cameras.manager.add_camera

    def flaky(params: Any) -> dict[str, Any]:
        if params.camera_id == "bad":
            raise OSError("disk gone")
        return real(params)

    monkeypatch.setattr(cameras.manager, "add_camera", flaky)
    result = apply(cameras, 1, {**DOOR, "camera_id": "bad"}, DOOR)
    assert statuses(result) == {"bad": "rejected", "door": "applied"} and "disk gone" in result["cameras"][0]["reason"]
    assert "door" in cameras.manager.workers
