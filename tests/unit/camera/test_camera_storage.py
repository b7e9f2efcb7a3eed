"""The recordings folder: retention by age and size, holds, and names that cannot escape it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edge.agent.camera.errors import CameraError
from edge.agent.camera.storage import RecordingStore
from shared.commands import validate_params
from shared.errors import CommandError, ErrorCode

NOW = 1_800_000_000.0


def make(root: Path, name: str, size: int, age_s: float) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    os.utime(path, (NOW - age_s, NOW - age_s))
    return path


@pytest.fixture
def store(tmp_path: Path) -> RecordingStore:
    return RecordingStore(tmp_path / "rec", tmp_path / "holds.json")


def names(store: RecordingStore, camera_id: str | None = None) -> list[str]:
    return [r.name for r in store.recordings(camera_id)]


def test_listing_is_oldest_first_and_ignores_other_files(store: RecordingStore) -> None:
    make(store.root, "c1/b.mp4", 10, age_s=100)
    make(store.root, "c1/a.mp4", 10, age_s=200)
    make(store.root, "c1/notes.txt", 10, age_s=300)
    make(store.root, "c2/z.avi", 10, age_s=50)
    assert names(store) == ["c1/a.mp4", "c1/b.mp4", "c2/z.avi"]
    assert names(store, "c2") == ["c2/z.avi"]
    assert store.usage("c1") == 20


def test_retention_by_age_keeps_held_and_recent(store: RecordingStore) -> None:
    for i, age_h in enumerate([50, 30, 25, 10, 1]):
        make(store.root, f"c1/r{i}.mp4", 100, age_s=age_h * 3600)
    make(store.root, "c2/other.mp4", 100, age_s=99 * 3600)
    store.hold("c1/r1.mp4", True)
    deleted = store.enforce("c1", max_age_s=24 * 3600, max_bytes=None, now=NOW)
    assert deleted == ["c1/r0.mp4", "c1/r2.mp4"]  # oldest first; r1 is held
    assert names(store) == ["c2/other.mp4", "c1/r1.mp4", "c1/r3.mp4", "c1/r4.mp4"]  # other camera untouched


def test_retention_by_size_deletes_oldest_first_and_never_the_held(store: RecordingStore) -> None:
    for i in range(6):
        make(store.root, f"c1/r{i}.mp4", 1000, age_s=600 - i * 60)
    store.hold("c1/r0.mp4", True)
    deleted = store.enforce("c1", max_age_s=None, max_bytes=3000, now=NOW)
    assert deleted == ["c1/r1.mp4", "c1/r2.mp4", "c1/r3.mp4"]
    assert names(store) == ["c1/r0.mp4", "c1/r4.mp4", "c1/r5.mp4"]  # the held one still counts
    assert store.usage("c1") == 3000


def test_retention_never_deletes_the_segment_being_written(tmp_path: Path) -> None:
    active: set[Path] = set()
    store = RecordingStore(tmp_path / "rec", tmp_path / "holds.json", lambda: active)
    old = make(store.root, "c1/old.mp4", 100, age_s=10**6)
    active.add(old)
    assert store.enforce("c1", max_age_s=1, max_bytes=0, now=NOW) == []
    assert [r.active for r in store.recordings()] == [True]
    with pytest.raises(CameraError) as err:
        store.delete("c1/old.mp4")
    assert err.value.code is ErrorCode.CONFLICT


def test_holds_survive_a_restart_and_block_deletion(store: RecordingStore, tmp_path: Path) -> None:
    make(store.root, "c1/keep.mp4", 10, age_s=10)
    store.hold("c1/keep.mp4", True)
    again = RecordingStore(tmp_path / "rec", tmp_path / "holds.json")
    assert [r.held for r in again.recordings()] == [True]
    with pytest.raises(CameraError) as err:
        again.delete("c1/keep.mp4")
    assert err.value.code is ErrorCode.CONFLICT
    assert err.value.message == "recording c1/keep.mp4 is held: release it first"
    again.hold("c1/keep.mp4", False)
    assert again.delete("c1/keep.mp4") == {"deleted": "c1/keep.mp4"}
    assert names(again) == []


@pytest.mark.parametrize(
    "name",
    ["../outside.mp4", "c1/../../outside.mp4", "/etc/passwd", "c1/../c1/x.mp4", "c1/sub/x.mp4", "c1/.hidden.mp4",
     "c1\\..\\x.mp4", "c1/x.mp4\x00.txt", ""],
)
def test_traversal_names_are_refused_by_the_params_model(name: str) -> None:
    with pytest.raises(CommandError) as err:
        validate_params("cctv_delete_recording", {"name": name})
    assert err.value.code is ErrorCode.INVALID_PARAMS


def test_nothing_outside_the_folder_can_be_deleted_even_through_symlinks(store: RecordingStore, tmp_path: Path) -> None:
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "x.mp4").write_bytes(b"keep me")
    (store.root / "c1").mkdir()
    (store.root / "c1" / "link.mp4").symlink_to(outside / "x.mp4")  # a file symlink pointing out
    (store.root / "c9").symlink_to(outside)  # a camera folder pointing out
    for name in ["c1/link.mp4", "c9/x.mp4", "..c1/x.mp4"]:
        with pytest.raises(CameraError) as err:
            store.delete(name)
        assert err.value.code is ErrorCode.INVALID_PARAMS or err.value.code is ErrorCode.NOT_FOUND, name
    for name in ["c1/../../precious/x.mp4", "../precious/x.mp4"]:
        with pytest.raises(CameraError):
            store.resolve(name)
    assert (outside / "x.mp4").read_bytes() == b"keep me"
    assert names(store) == []  # symlinks are not listed as recordings
    assert store.enforce("c9", max_age_s=1, max_bytes=0, now=NOW) == []
    assert (outside / "x.mp4").exists()


def test_unknown_recording_is_not_found(store: RecordingStore) -> None:
    with pytest.raises(CameraError) as err:
        store.delete("c1/nope.mp4")
    assert err.value.code is ErrorCode.NOT_FOUND


def test_free_space_deletes_oldest_unheld_of_any_camera(store: RecordingStore) -> None:
    make(store.root, "c1/a.mp4", 10, age_s=300)
    make(store.root, "c2/b.mp4", 10, age_s=200)
    make(store.root, "c1/c.mp4", 10, age_s=100)
    store.hold("c1/a.mp4", True)
    # asking for more than the disk has deletes every deletable recording, oldest first, and keeps the held
    assert store.free_space(store.disk()["total"] + 1) == ["c2/b.mp4", "c1/c.mp4"]
    assert names(store) == ["c1/a.mp4"]
