"""The ``cctv:`` shadow's documents: the desired set's checks, the 8 KB budget with room for the report, a bad
``reported`` part read as none, and the update requests."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from shared.cctv import (
    MAX_REASON_BYTES,
    CameraResult,
    CamerasDesired,
    CamerasReported,
    central_source_error,
    cut_reason,
)
from shared.messages.camera_shadow import (
    REPORTED_BYTES_PER_CAMERA,
    CameraShadow,
    CameraShadowDocuments,
    cameras_desired_update,
    cameras_reported_update,
    check_fits,
)
from shared.messages.shadow import MAX_SHADOW_STATE_BYTES

DOOR: dict[str, Any] = {"camera_id": "door", "source": "rtsp://10.0.0.9/s"}


def test_the_largest_report_fits_beside_what_the_cloud_may_desire() -> None:
    """Whatever passes ``check_fits``, the agent's report of it (every camera rejected, longest reasons) fits too."""
    url = "rtsp://10.0.0.9/" + "x" * 300
    cameras = [{**DOOR, "camera_id": f"{'c' * 60}{i:04d}", "source": url} for i in range(30)]
    n = max(k for k in range(1, 30) if _fits(CamerasDesired(rev=2**40, cameras=cameras[:k])))
    desired = CamerasDesired(rev=2**40, cameras=cameras[:n])
    report = CamerasReported(rev=2**40, cameras=[
        CameraResult(camera_id=c["camera_id"], status="rejected", reason=cut_reason("é" * 500)) for c in cameras[:n]])
    state = {"desired": desired.model_dump(mode="json"), "reported": report.model_dump(mode="json")}
    assert len(json.dumps(state, separators=(",", ":"), ensure_ascii=False).encode()) <= MAX_SHADOW_STATE_BYTES
    with pytest.raises(ValueError, match="8192-byte limit"):
        cameras_desired_update(CamerasDesired(rev=1, cameras=cameras[: n + 1]))
    one = json.dumps(report.cameras[0].model_dump(), separators=(",", ":"), ensure_ascii=False).encode()
    assert len(one) + 1 <= REPORTED_BYTES_PER_CAMERA  # and its comma


def _fits(desired: CamerasDesired) -> bool:
    try:
        check_fits(desired)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("cameras", [[{"source": 0}], [DOOR, DOOR], [{**DOOR, "camera_id": "a/b"}], ["door"]])
def test_desired_sets_need_unique_ids(cameras: list[Any]) -> None:
    with pytest.raises(ValidationError):
        CamerasDesired.model_validate({"rev": 1, "cameras": cameras})


def test_documents_ignore_aws_fields_and_a_bad_report() -> None:
    raw = {"state": {"desired": {"v": 1, "rev": 3, "cameras": [DOOR]}, "reported": {"rev": "x"},
                     "delta": {"rev": 3}}, "metadata": {"desired": {}}, "version": 7, "timestamp": 1}
    document = CameraShadow.model_validate(raw)
    assert document.version == 7 and document.state.desired is not None and document.state.reported is None
    docs = CameraShadowDocuments.model_validate({"previous": None, "current": raw, "timestamp": 2})
    assert docs.current.state.desired == document.state.desired
    with pytest.raises(ValidationError):  # our own part stays strict
        CameraShadow.model_validate({"state": {"desired": {"v": 1, "rev": 1, "cameras": [], "extra": 1}}})


def test_update_requests() -> None:
    desired = json.loads(cameras_desired_update(CamerasDesired(rev=4, cameras=[DOOR]), version=9))
    assert desired == {"state": {"desired": {"v": 1, "rev": 4, "cameras": [DOOR]}}, "version": 9}
    reported = json.loads(cameras_reported_update(CamerasReported(rev=4, cameras=[
        CameraResult(camera_id="door", status="applied")])))
    assert reported == {"state": {"reported": {"v": 1, "rev": 4, "cameras": [{"camera_id": "door",
                                                                              "status": "applied"}]}}}


@pytest.mark.parametrize("source", [0, 63, "rtsp://cam/1", "https://cam/x.mjpg", "synthetic:black", "7"])
def test_sources_the_cloud_may_set(source: Any) -> None:
    assert central_source_error(source) is None


@pytest.mark.parametrize("source", ["/etc/passwd", "file:///etc/passwd", "concat:/a|/b", "subfile:,,start,0,end,0,,:/x",
                                    "synthetic:/etc", "~/x.mp4", "C:\\x.mp4", True, None, 1.5])
def test_sources_the_cloud_may_not_set(source: Any) -> None:
    assert central_source_error(source) is not None


def test_reasons_are_cut_on_a_character_boundary() -> None:
    assert cut_reason("a\nb  c") == "a b c"
    cut = cut_reason("é" * 200)
    assert len(cut.encode()) <= MAX_REASON_BYTES and cut.endswith("...")
