"""The recordings folder: listing, holds, deletion and retention — and nothing outside it, ever.

A recording is named ``<camera_id>/<file>`` relative to the recordings folder. Every name from outside is
matched against :data:`shared.commands.RECORDING_NAME_PATTERN`, then resolved (symlinks followed) and must
still lie inside the folder, be a regular file with a video suffix: ``../`` or a symlink pointing out can
never reach a file elsewhere. Holds are kept in ``holds.json`` (atomic writes); retention and explicit
deletion both refuse held recordings and the segment being written.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.agent.camera.errors import CameraError
from edge.agent.camera.recorder import VIDEO_SUFFIXES
from shared.cctv import RECORDING_NAME_PATTERN
from shared.errors import ErrorCode
from shared.files import write_atomic

log = logging.getLogger(__name__)
_NAME = re.compile(RECORDING_NAME_PATTERN)


def atomic_write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` atomically (``shared.files.write_atomic``)."""
    write_atomic(path, json.dumps(data, separators=(",", ":"), sort_keys=True))


@dataclass(frozen=True)
class Recording:
    name: str
    camera_id: str
    path: Path
    size: int
    modified: float
    held: bool
    active: bool

    def to_data(self) -> dict[str, Any]:
        return {"name": self.name, "camera_id": self.camera_id, "size": self.size,
                "modified": round(self.modified, 3), "held": self.held, "active": self.active}


class RecordingStore:
    def __init__(self, root: Path, holds_path: Path, active: Callable[[], set[Path]] | None = None) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root.resolve()
        self.holds_path = holds_path
        self.active = active or set
        self.lock = threading.RLock()
        self.holds: set[str] = self._load_holds()

    def _load_holds(self) -> set[str]:
        try:
            data = json.loads(self.holds_path.read_text(encoding="utf-8"))
            return {h for h in data.get("held", []) if isinstance(h, str) and _NAME.match(h)}
        except FileNotFoundError:
            return set()
        except (OSError, ValueError, AttributeError) as exc:
            log.error("holds file %s unreadable (%s): starting with no holds", self.holds_path, exc)
            return set()

    # ------------------------------------------------------------ names and paths

    def resolve(self, name: str) -> Path:
        """The file of recording ``name``, proven to be inside the recordings folder."""
        if not _NAME.match(name) or ".." in name.split("/"):
            raise CameraError(f"bad recording name {name!r}: expected '<camera_id>/<file>' as listed")
        path = (self.root / name).resolve()
        if not path.is_relative_to(self.root) or path.parent.parent != self.root:
            raise CameraError(f"bad recording name {name!r}: outside the recordings folder")
        if path.suffix not in VIDEO_SUFFIXES or not path.is_file():
            raise CameraError(f"no recording {name!r}", ErrorCode.NOT_FOUND)
        return path

    def _name(self, path: Path) -> str:
        return f"{path.parent.name}/{path.name}"

    # ------------------------------------------------------------ listing

    def recordings(self, camera_id: str | None = None) -> list[Recording]:
        """Recordings, oldest first (by last write)."""
        active = {p.resolve() for p in self.active() if p is not None}
        dirs: Iterable[Path] = [self.root / camera_id] if camera_id else sorted(self.root.iterdir())
        out: list[Recording] = []
        for d in dirs:
            if not d.is_dir() or d.is_symlink():
                continue
            for path in d.iterdir():
                if path.suffix not in VIDEO_SUFFIXES or path.is_symlink():
                    continue
                try:
                    st = path.stat()
                except OSError:
                    continue  # deleted meanwhile
                name = self._name(path)
                out.append(Recording(name, d.name, path, st.st_size, st.st_mtime, name in self.holds,
                                     path.resolve() in active))
        out.sort(key=lambda r: (r.modified, r.name))
        return out

    def usage(self, camera_id: str | None = None) -> int:
        return sum(r.size for r in self.recordings(camera_id))

    def disk(self) -> dict[str, int]:
        du = shutil.disk_usage(self.root)
        return {"total": du.total, "used": du.used, "free": du.free}

    # ------------------------------------------------------------ changes

    def hold(self, name: str, held: bool) -> dict[str, Any]:
        with self.lock:
            self.resolve(name)
            holds = (self.holds | {name}) if held else (self.holds - {name})
            atomic_write_json(self.holds_path, {"held": sorted(holds)})
            self.holds = holds
        return {"name": name, "held": held}

    def delete(self, name: str) -> dict[str, Any]:
        with self.lock:
            path = self.resolve(name)
            if name in self.holds:
                raise CameraError(f"recording {name} is held: release it first", ErrorCode.CONFLICT)
            if path in {p.resolve() for p in self.active()}:
                raise CameraError(f"recording {name} is being written", ErrorCode.CONFLICT)
            path.unlink()
        log.info("deleted recording %s", name)
        return {"deleted": name}

    def _drop_holds_of_missing(self) -> None:
        missing = {h for h in self.holds if not (self.root / h).exists()}
        if missing:
            self.holds -= missing
            atomic_write_json(self.holds_path, {"held": sorted(self.holds)})

    def enforce(
        self, camera_id: str, *, max_age_s: float | None, max_bytes: int | None, now: float | None = None
    ) -> list[str]:
        """Delete this camera's recordings older than ``max_age_s`` and, oldest first, until its total is
        at most ``max_bytes``. Held recordings and the active segment are never deleted (they still count
        towards the total). Returns the deleted names."""
        now = time.time() if now is None else now
        deleted: list[str] = []
        with self.lock:
            recordings = self.recordings(camera_id)
            total = sum(r.size for r in recordings)
            for r in recordings:
                if r.held or r.active:
                    continue
                too_old = max_age_s is not None and now - r.modified > max_age_s
                too_big = max_bytes is not None and total > max_bytes
                if not (too_old or too_big):
                    continue
                with contextlib.suppress(FileNotFoundError):
                    r.path.unlink()
                total -= r.size
                deleted.append(r.name)
            self._drop_holds_of_missing()
        if deleted:
            log.info("retention: camera %s: deleted %d recording(s)", camera_id, len(deleted))
        return deleted

    def free_space(self, need_free: int) -> list[str]:
        """Delete the oldest deletable recordings of any camera until ``need_free`` bytes are free."""
        deleted: list[str] = []
        with self.lock:
            for r in self.recordings():
                if self.disk()["free"] >= need_free:
                    break
                if r.held or r.active:
                    continue
                r.path.unlink(missing_ok=True)
                deleted.append(r.name)
            self._drop_holds_of_missing()
        return deleted
