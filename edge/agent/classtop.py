"""This PC's ClassTop courses and schedule: a durable, versioned store and its snapshots to the LMS.

The data (``shared.commands.ClassTopData``: ``courses`` and ``schedule_entries``, with the client's own ids)
lives in ``state_dir/classtop.json``, written atomically. It comes from a ClassTop client's database or a
JSON file (:mod:`edge.agent.classtop_import`, at start and on ``sync_classtop_data``) and from the
``set_courses`` / ``set_schedule`` commands. An import at start is applied only when it differs from the
previous import (the source changed), so a restart does not undo changes made by commands;
``sync_classtop_data`` always applies it.

**Versioning.** Every change of *content* (compared by hash) increments ``version``; ``epoch`` is a random
id chosen when the store file is first created. A snapshot is
``Event(kind="classtop.snapshot", data=ClassTopSnapshot)`` — ``{epoch, version, hash, updated_at, source,
courses, schedule_entries}``; the LMS applies it only when its ``epoch`` differs from the one it holds or
its ``version`` is greater, and may skip it when the ``hash`` is the one it already has. So a snapshot that
is delivered twice, late, or repeated by the periodic timer is never applied twice.

**When snapshots are sent.** On every connect, on every change, and every ``sync_interval_s`` (default
300 s, ClassTop's own ``sync_interval``). Snapshots bypass the durable outbox (``durable=False``): one sent
while disconnected is skipped, since the next connect sends the current one. A snapshot is at most 128 KB:
a change that would make it bigger is refused.

**Without pydantic.** The store reads its file and sends snapshots with the msgspec mirrors of the models
(``shared.messages.structs``: the same fields and rules): an idle agent never loads pydantic. The pydantic models
(:meth:`ClassTopStore.snapshot`, the changes) load with the first command or import that uses them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from shared.files import write_atomic
from shared.messages import structs
from shared.messages.checks import MAX_PAYLOAD_BYTES
from shared.messages.structs import Event, build, encode
from shared.periodic import Periodic

if TYPE_CHECKING:
    from shared.commands import ClassTopData, ClassTopSnapshot, Course, ScheduleEntry

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
SNAPSHOT_KIND = "classtop.snapshot"
_ENVELOPE_MARGIN = 1024


class ClassTopError(ValueError):
    """A change was refused: the data is inconsistent or too big. The store is unchanged."""


def content_hash(data: ClassTopData | structs.ClassTopData | structs.ClassTopSnapshot) -> str:
    """sha256 of the canonical JSON of ``{courses, schedule_entries}`` (only the content, not the version)."""
    canonical = json.dumps(content_of(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class ClassTopStore:
    """Thread-safe, versioned ``ClassTopData`` persisted to ``path``. Mutators return whether it changed."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._imported_hash: str | None = None
        self._model: ClassTopSnapshot | None = None  # the pydantic snapshot, made on first use
        self._current = self._load()

    # ------------------------------------------------------------ reads

    def current(self) -> structs.ClassTopSnapshot:
        """The snapshot as the msgspec mirror (no pydantic: what an idle agent sends)."""
        with self._lock:
            return self._current

    def snapshot(self) -> ClassTopSnapshot:
        """The snapshot as the pydantic model (loads pydantic)."""
        with self._lock:
            return self._snapshot

    @property
    def _snapshot(self) -> ClassTopSnapshot:
        if self._model is None:
            from shared.commands import ClassTopSnapshot

            self._model = ClassTopSnapshot.model_validate(msgspec.to_builtins(self._current))
        return self._model

    def data(self) -> ClassTopData:
        from shared.commands import ClassTopData

        s = self.snapshot()
        return ClassTopData(courses=s.courses, schedule_entries=s.schedule_entries)

    # ------------------------------------------------------------ writes

    def replace(self, data: ClassTopData, source: str) -> bool:
        """Make ``data`` the whole content (persisted before returning). True if the content changed."""
        with self._lock:
            return self._replace(data, source)

    def import_data(self, data: ClassTopData, source: str, *, force: bool = False) -> bool:
        """Apply an import unless it equals the previous import (``force``: apply anyway).

        So a restart does not undo changes made by commands since the source file last changed, while a
        changed source (the teacher edited the timetable in ClassTop) replaces the content."""
        digest = content_hash(data)
        with self._lock:
            if not force and digest == self._imported_hash:
                return False
            previous = self._imported_hash
            self._imported_hash = digest
            try:
                changed = self._replace(data, source)
                if not changed:
                    self._save(self._current)
            except BaseException:
                self._imported_hash = previous
                raise
            return changed

    def set_courses(self, courses: list[Course], source: str = "set_courses") -> bool:
        with self._lock:
            current = self._snapshot
            return self._replace(self._validated(courses, current.schedule_entries), source)

    def set_schedule(self, entries: list[ScheduleEntry], source: str = "set_schedule") -> bool:
        with self._lock:
            current = self._snapshot
            return self._replace(self._validated(current.courses, entries), source)

    @staticmethod
    def _validated(courses: list[Course], entries: list[ScheduleEntry]) -> ClassTopData:
        from pydantic import ValidationError

        from shared.commands import ClassTopData
        from shared.messages import describe_validation_error

        try:
            return ClassTopData.model_validate(
                {
                    "courses": [c.model_dump() for c in courses],
                    "schedule_entries": [e.model_dump() for e in entries],
                }
            )
        except ValidationError as exc:
            raise ClassTopError(describe_validation_error(exc)) from None

    def _replace(self, data: ClassTopData, source: str) -> bool:
        from shared.commands import ClassTopSnapshot

        digest = content_hash(data)
        current = self._current
        if digest == current.hash:
            return False
        new = ClassTopSnapshot(
            epoch=current.epoch,
            version=current.version + 1,
            hash=digest,
            updated_at=time.time(),
            source=source[:512],
            courses=data.courses,
            schedule_entries=data.schedule_entries,
        )
        size = len(encode(snapshot_event(new)))
        if size > MAX_PAYLOAD_BYTES - _ENVELOPE_MARGIN:
            raise ClassTopError(
                f"the timetable would take {size} bytes as a snapshot: at most {MAX_PAYLOAD_BYTES - _ENVELOPE_MARGIN}"
            )
        mirror = msgspec.convert(new.model_dump(mode="json"), structs.ClassTopSnapshot)
        self._save(mirror)
        self._current, self._model = mirror, new
        return True

    # ------------------------------------------------------------ file

    def _save(self, snapshot: structs.ClassTopSnapshot) -> None:
        doc = {"format": FORMAT_VERSION, "imported_hash": self._imported_hash, **msgspec.to_builtins(snapshot)}
        write_atomic(self.path, json.dumps(doc, ensure_ascii=False, indent=1).encode())

    def _empty(self) -> structs.ClassTopSnapshot:
        data = build(structs.ClassTopData)
        return build(
            structs.ClassTopSnapshot,
            epoch=secrets.token_hex(8), version=0, hash=content_hash(data), updated_at=time.time(), source="",
        )  # fmt: skip

    def _load(self) -> structs.ClassTopSnapshot:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            snapshot = self._empty()
            self._save(snapshot)
            return snapshot
        try:
            doc = json.loads(raw)
            if not isinstance(doc, dict) or doc.pop("format", None) != FORMAT_VERSION:
                raise ValueError(f"expected a format {FORMAT_VERSION} document")
            imported = doc.pop("imported_hash", None)
            snapshot = msgspec.convert(doc, structs.ClassTopSnapshot)  # the pydantic model's fields and rules
            if content_hash(snapshot) != snapshot.hash:
                raise ValueError("content does not match its hash")
            self._imported_hash = imported if isinstance(imported, str) else None
            return snapshot
        except (ValueError, UnicodeDecodeError) as exc:  # json and msgspec errors are ValueErrors
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            self.path.replace(aside)
            log.error("ClassTop data file %s is unusable (%s); moved to %s, starting empty", self.path, exc, aside)
            snapshot = self._empty()
            self._save(snapshot)
            return snapshot


def _json(record: Any) -> Any:
    """A pydantic model or a mirror as JSON-ready builtins (the same for both)."""
    return record.model_dump(mode="json") if hasattr(record, "model_dump") else msgspec.to_builtins(record)


def content_of(data: ClassTopData | structs.ClassTopData | structs.ClassTopSnapshot) -> dict[str, Any]:
    return {
        "courses": [_json(c) for c in data.courses],
        "schedule_entries": [_json(e) for e in data.schedule_entries],
    }


def snapshot_event(snapshot: ClassTopSnapshot | structs.ClassTopSnapshot) -> Event:
    return build(
        Event,
        timestamp=time.time(),
        kind=SNAPSHOT_KIND,
        message=f"version {snapshot.version}",
        data=_json(snapshot),
    )


class SnapshotLoop:
    """Sends a snapshot every ``interval_s`` and whenever :meth:`poke` is called (on change, on connect)."""

    def __init__(self, store: ClassTopStore, interval_s: float, send: Callable[[Event], Any]) -> None:
        self.store = store
        self.interval_s = interval_s
        self.send = send
        self.sent = 0
        self._periodic = Periodic("classtop", self.send_now, interval_s, run_at_start=False, join_timeout_s=5.0)

    def start(self) -> None:
        self._periodic.start()

    def poke(self) -> None:
        self._periodic.wake()

    def stop(self) -> None:
        self._periodic.stop()

    def send_now(self) -> None:
        if self.send(snapshot_event(self.store.current())):
            self.sent += 1
