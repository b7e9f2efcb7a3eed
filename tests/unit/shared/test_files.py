"""shared.files: a file replaced whole or not at all, its temporary beside it, private from the first moment."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest

from shared.files import write_atomic, write_atomic_from


def test_a_file_is_replaced_whole_with_its_mode_and_nothing_left_beside_it(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "secret.json"
    write_atomic(target, "old")
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    write_atomic(target, "public", mode=0o644)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    write_atomic_from(target, io.BytesIO(b"x" * 3_000_000))
    assert target.stat().st_size == 3_000_000
    assert sorted(os.listdir(target.parent)) == ["secret.json"]


def test_a_failed_write_keeps_the_old_content_and_removes_its_temporary(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    write_atomic(target, "old")

    class Broken(io.RawIOBase):
        def readinto(self, buffer: object) -> int:
            raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        write_atomic_from(target, Broken())  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["state.json"]


def test_a_link_planted_beside_the_target_is_never_written_through(tmp_path: Path) -> None:
    """The temporary is created new (O_EXCL, no links followed): links an attacker planted under any name next to
    the target, pointing at a file they want overwritten, stay untouched."""
    victim = tmp_path / "victim"
    victim.write_text("keep")
    for i in range(50):
        (tmp_path / f".state.json.{i:012x}.tmp").symlink_to(victim)
    write_atomic(tmp_path / "state.json", "mine")
    assert victim.read_text() == "keep"
    assert (tmp_path / "state.json").read_text() == "mine"
    assert not (tmp_path / "state.json").is_symlink()
