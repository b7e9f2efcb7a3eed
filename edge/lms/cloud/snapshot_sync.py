"""Agents' snapshots on their way to the cloud: settings, ClassTop timetable, CCTV config (issue 4, 7).

One thread looks at what the LMS keeps, every ``interval_s`` (the debounce: changes within one interval travel
together, at most one entry per agent and kind):

* ``settings`` — the registry's cached settings of each agent (from its ``StateUpdate``s), ``clients.settings``;
* ``classtop`` — the timetable of each agent (``classtop.snapshot`` events) and legacy ClassTop client (HTTP
  sync uploads), ``classtop_*`` tables; the agent's own epoch/version/hash travel inside ``data``;
* ``cctv_config`` — the latest successful ``cctv_get_config`` answer of each agent in the command log, with
  secrets (any key naming a token or password) removed.

A changed one (its canonical hash differs from the ``sent_hash`` in ``snapshot_state``) gets the next
``version`` of its ``(agent_id, kind)`` under this database's ``epoch`` (made once, time-ordered, so a recreated
database's epoch sorts after the old one), and is written to the durable outbox on
``site_up(namespace, site, SYNC)`` as :class:`~shared.messages.AgentSnapshots` **in the same transaction** as its new
``sent_hash``: after a restart nothing unchanged is sent again, and no version is ever used for two contents.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from edge.lms.agents import AgentRows
from edge.lms.cloud.outbox import Outbox
from edge.lms.cloud.outbox_rows import OutboxRows
from edge.lms.commands import CommandLog
from edge.lms.legacy import Timetables
from edge.lms.store import Store
from shared import topics
from shared.errors import MessageError
from shared.messages import SnapshotEntry, SnapshotKind, encode, snapshot_hash, split_snapshots
from shared.names import Namespace
from shared.periodic import Periodic
from shared.topics import SiteUp

log = logging.getLogger(__name__)

#: Schema version 5: what was last queued for the cloud, per agent and kind.
SNAPSHOT_STATE_TABLE_V5 = (
    """CREATE TABLE IF NOT EXISTS snapshot_state (
            agent_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            epoch TEXT NOT NULL,
            version INTEGER NOT NULL,
            sent_hash TEXT NOT NULL,
            sent_at REAL NOT NULL,
            PRIMARY KEY (agent_id, kind)
        )""",
)

DEFAULT_INTERVAL_S = 2.0
EPOCH_KEY = "snapshot_epoch"
CCTV_LOG_KEY = "snapshot_cctv_log_id"
CCTV_COMMAND = "cctv_get_config"
_SECRET_WORDS = ("token", "password", "secret")


def new_epoch(now: float | None = None) -> str:
    """Time-ordered (hex milliseconds, fixed width) plus randomness: a later epoch sorts greater."""
    millis = int((time.time() if now is None else now) * 1000)
    return f"{millis:012x}{secrets.token_hex(4)}"


def redact(value: Any) -> Any:
    """``value`` without any dict key that names a token, password or secret (at any depth)."""
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()
                if not any(word in str(k).lower() for word in _SECRET_WORDS)}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class _Sent:
    version: int
    hash: str


@dataclass
class SnapshotStats:
    scans: int = 0
    queued_entries: int = 0
    queued_messages: int = 0
    too_large: int = 0


class SnapshotSync:
    """Start with :meth:`start` (after the outbox exists), stop with :meth:`stop`; :meth:`scan` runs one pass."""

    def __init__(self, store: Store, outbox: Outbox, *, namespace: Namespace, site_id: str,
                 interval_s: float = DEFAULT_INTERVAL_S) -> None:
        self._store = store
        self._outbox = outbox
        self._topic = topics.site_up(namespace, site_id, SiteUp.SYNC)
        self._agents = AgentRows(store)
        self._timetables = Timetables(store)
        self._command_log = CommandLog(store)  # its queries only (the LMS's own log writes the rows)
        self._classtop_since = 0.0
        self._too_large: set[tuple[str, str, str]] = set()
        self._periodic = Periodic("lms-snapshots", self.scan, interval_s)
        self._lock = threading.Lock()
        self.stats = SnapshotStats()
        epoch = store.get_config(EPOCH_KEY)
        if epoch is None:
            epoch = new_epoch()
            store.set_config(EPOCH_KEY, epoch)
        self.epoch = epoch

    # ------------------------------------------------------------ lifecycle

    def start(self) -> SnapshotSync:
        self._periodic.start()
        return self

    def stop(self) -> None:
        self._periodic.stop()

    # ------------------------------------------------------------ one pass

    def scan(self) -> int:
        """Queue every changed snapshot; return how many entries were queued."""
        with self._lock:
            self.stats.scans += 1
            now = time.time()
            current: dict[tuple[str, str], dict[str, Any]] = {}
            current.update(self._settings())
            classtop, classtop_since = self._classtop()
            current.update(classtop)
            cctv, cctv_log_id = self._cctv()
            current.update(cctv)
            sent = self._sent()
            entries: list[SnapshotEntry] = []
            for (agent_id, kind), data in sorted(current.items()):
                digest = snapshot_hash(data)
                before = sent.get((agent_id, kind))
                if before is not None and before.hash == digest:
                    continue
                entry = SnapshotEntry(agent_id=agent_id, kind=SnapshotKind(kind), epoch=self.epoch,
                                      version=(before.version if before else 0) + 1, hash=digest, data=data,
                                      updated_at=now)
                try:
                    split_snapshots([entry])
                except MessageError as exc:
                    if (agent_id, kind, digest) not in self._too_large:
                        self._too_large.add((agent_id, kind, digest))
                        self.stats.too_large += 1
                        log.warning("snapshots: not sent: %s", exc.message)
                    continue
                entries.append(entry)
            self._queue(entries, cctv_log_id)
            self._classtop_since = classtop_since
            return len(entries)

    def _queue(self, entries: list[SnapshotEntry], cctv_log_id: int | None) -> None:
        messages = split_snapshots(entries)
        if not messages and cctv_log_id is None:
            return
        created = time.time()
        with self._store.transaction() as conn:
            for message in messages:
                OutboxRows.insert(conn, self._topic, encode(message), created)
            conn.executemany(
                "INSERT INTO snapshot_state (agent_id, kind, epoch, version, sent_hash, sent_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(agent_id, kind) DO UPDATE SET epoch = excluded.epoch, "
                "version = excluded.version, sent_hash = excluded.sent_hash, sent_at = excluded.sent_at",
                [(e.agent_id, e.kind.value, e.epoch, e.version, e.hash, created) for e in entries],
            )
            if cctv_log_id is not None:
                Store.write_config(conn, CCTV_LOG_KEY, str(cctv_log_id))
        if messages:
            self.stats.queued_entries += len(entries)
            self.stats.queued_messages += len(messages)
            self._outbox.wake()
            log.info("snapshots: queued %d change(s) in %d message(s)", len(entries), len(messages))

    def _sent(self) -> dict[tuple[str, str], _Sent]:
        rows = self._store.query("SELECT agent_id, kind, version, sent_hash FROM snapshot_state WHERE epoch = ?",
                                 (self.epoch,))
        return {(r[0], r[1]): _Sent(int(r[2]), r[3]) for r in rows}

    # ------------------------------------------------------------ the sources

    def _settings(self) -> dict[tuple[str, str], dict[str, Any]]:
        out: dict[tuple[str, str], dict[str, Any]] = {}
        for agent_id, text in self._agents.with_settings():
            try:
                settings = json.loads(text)
            except ValueError:
                continue
            if isinstance(settings, dict) and topics.is_valid_id(agent_id):
                out[(agent_id, SnapshotKind.SETTINGS.value)] = {"settings": settings}
        return out

    def _classtop(self) -> tuple[dict[tuple[str, str], dict[str, Any]], float]:
        """Timetables written since the last pass (all of them on the first pass)."""
        rows = self._timetables.synced_since(self._classtop_since)
        out: dict[tuple[str, str], dict[str, Any]] = {}
        since = self._classtop_since
        for client_uuid, synced_at, source, epoch, version, hash_ in rows:
            since = max(since, float(synced_at))
            if not topics.is_valid_id(client_uuid):
                continue
            out[(client_uuid, SnapshotKind.CLASSTOP.value)] = {
                "source": source, "epoch": epoch, "version": version, "hash": hash_,
                "courses": self._timetables.courses(client_uuid),
                "schedule_entries": self._timetables.schedule(client_uuid),
            }
        return out, since

    def _cctv(self) -> tuple[dict[tuple[str, str], dict[str, Any]], int | None]:
        """The latest successful ``cctv_get_config`` answers logged since the last pass; the new high mark."""
        seen = self._store.get_config(CCTV_LOG_KEY)
        last_id = int(seen) if seen is not None and seen.isdigit() else 0
        rows = self._command_log.answers_since(last_id, CCTV_COMMAND)
        out: dict[tuple[str, str], dict[str, Any]] = {}
        for row_id, agent_id, text in rows:
            last_id = max(last_id, int(row_id))
            try:
                response = json.loads(text) if text is not None else None
            except ValueError:
                continue
            if isinstance(response, dict) and topics.is_valid_id(agent_id):
                out[(agent_id, SnapshotKind.CCTV_CONFIG.value)] = {"config": redact(response)}
        return out, (last_id if rows else None)
