"""Commands waiting for an offline agent (opt-in for commands, automatic for settings writes).

A queued command is a row of ``command_queue`` (durable: it survives an LMS restart) with a TTL. When the
registry announces the agent online, a worker drains that agent's rows **in order, one at a time** (a
settings write and a later one must not swap), each through the router like any command; the outcome is
stored on the row. Rows past their TTL become ``expired`` without running. If the agent drops again
mid-drain the row stays ``queued``. States: ``queued`` -> ``delivering`` -> ``done`` / ``expired`` /
``cancelled``; a row found ``delivering`` at start-up (the LMS stopped mid-delivery; the agent may or may
not have run it) becomes ``interrupted`` rather than being run twice.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from edge.lms.agents import AgentView, Registry
from edge.lms.commands.router import Router
from edge.lms.store import Store, json_or_none
from shared.errors import ErrorCode
from shared.messages import Presence

log = logging.getLogger(__name__)

SWEEP_INTERVAL_S = 5.0
DRAIN_WORKERS = 8
_KEYS = (
    "id", "agent_id", "command", "params", "timeout_s", "created_at", "expires_at", "actor", "state", "request_id",
    "result", "finished_at",
)  # fmt: skip


class CommandQueue:
    """:meth:`attach` (presence listener), :meth:`start`, :meth:`enqueue`, :meth:`stop`."""

    def __init__(self, store: Store, router: Router, registry: Registry) -> None:
        self._store = store
        self._router = router
        self._registry = registry
        self._draining: set[str] = set()
        self._waiting: set[str] = set()  # agents with queued rows (refreshed by every sweep)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pool: ThreadPoolExecutor | None = None
        self._thread: threading.Thread | None = None
        self.delivered = 0
        self.expired = 0

    # ------------------------------------------------------------ lifecycle

    def attach(self) -> None:
        self._registry.add_listener(self._on_presence)

    def start(self) -> CommandQueue:
        with self._store.transaction() as conn:
            cur = conn.execute(
                "UPDATE command_queue SET state = 'interrupted', finished_at = ?, result = ? "
                "WHERE state = 'delivering'",
                (time.time(), json.dumps({"error": "the LMS stopped while delivering; it may or may not have run"})),
            )
        if cur.rowcount:
            log.warning(
                "queue: %d commands were being delivered when the LMS stopped: marked interrupted", cur.rowcount
            )
        self._refresh_waiting()
        self._stop.clear()
        self._pool = ThreadPoolExecutor(DRAIN_WORKERS, thread_name_prefix="lms-queue")
        self._thread = threading.Thread(target=self._sweep_loop, name="lms-queue-sweeper", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    # ------------------------------------------------------------ API

    def enqueue(
        self,
        agent_id: str,
        command: str,
        params: dict[str, Any],
        *,
        timeout_s: float | None,
        ttl_s: float,
        actor: str | None,
    ) -> dict[str, Any]:
        """Store one command for the agent (params already validated). Delivery starts if it is online."""
        now = time.time()
        with self._store.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO command_queue (agent_id, command, params, timeout_s, created_at, expires_at, actor) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (agent_id, command, json.dumps(params), timeout_s, now, now + ttl_s, actor),
            )
        item = self.get(int(cur.lastrowid or 0))
        assert item is not None
        with self._lock:
            self._waiting.add(agent_id)
        if self._registry.presence(agent_id) is Presence.ONLINE:
            self.kick(agent_id)  # it came back between the check and now
        return item

    def get(self, item_id: int) -> dict[str, Any] | None:
        rows = self._select("WHERE id = ?", (item_id,), 1)
        return rows[0] if rows else None

    def entries(
        self, agent_id: str | None = None, state: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        where, args = "WHERE 1=1", []
        if agent_id is not None:
            where += " AND agent_id = ?"
            args.append(agent_id)
        if state is not None:
            where += " AND state = ?"
            args.append(state)
        return self._select(where + " ORDER BY id DESC", args, limit)

    def depth(self) -> int:
        return int(self._store.query("SELECT COUNT(*) FROM command_queue WHERE state = 'queued'")[0][0])

    def cancel(self, item_id: int) -> bool:
        """Cancel a still-queued command. ``False`` when it is not queued (any more)."""
        with self._store.transaction() as conn:
            cur = conn.execute(
                "UPDATE command_queue SET state = 'cancelled', finished_at = ? WHERE id = ? AND state = 'queued'",
                (time.time(), item_id),
            )
        return cur.rowcount == 1

    def kick(self, agent_id: str) -> None:
        """Start draining the agent's queue (no-op when already draining or stopped)."""
        with self._lock:
            if self._pool is None or agent_id in self._draining:
                return
            self._draining.add(agent_id)
            pool = self._pool
        try:
            pool.submit(self._drain, agent_id)
        except RuntimeError:  # shutting down
            with self._lock:
                self._draining.discard(agent_id)

    # ------------------------------------------------------------ internals

    def _select(self, where: str, args: Any, limit: int) -> list[dict[str, Any]]:
        rows = self._store.query(f"SELECT {', '.join(_KEYS)} FROM command_queue {where} LIMIT ?", (*args, limit))
        out = []
        for r in rows:
            row = dict(zip(_KEYS, r, strict=True))
            row["params"] = json_or_none(row["params"])
            row["result"] = json_or_none(row["result"])
            out.append(row)
        return out

    def _on_presence(self, view: AgentView) -> None:
        # Only agents with something queued: a presence change (e.g. ClassTop clients reconnecting by the
        # hundred) must not cost a database transaction each.
        if view.online and view.agent_id in self._waiting:
            self.kick(view.agent_id)

    def _refresh_waiting(self) -> list[str]:
        """Re-read which agents have queued rows (the in-memory set only speeds up presence changes)."""
        agents = [a for (a,) in self._store.query("SELECT DISTINCT agent_id FROM command_queue WHERE state = 'queued'")]
        with self._lock:
            self._waiting = set(agents)
        return agents

    def _expire(self) -> None:
        now = time.time()
        with self._store.transaction() as conn:
            cur = conn.execute(
                "UPDATE command_queue SET state = 'expired', finished_at = ? "
                "WHERE state = 'queued' AND expires_at <= ?",
                (now, now),
            )
        if cur.rowcount:
            self.expired += cur.rowcount
            log.info("queue: %d commands expired before their agent came back", cur.rowcount)

    def _sweep_loop(self) -> None:
        while not self._stop.wait(SWEEP_INTERVAL_S):
            try:
                self.sweep()
            except Exception:
                log.exception("queue: sweep failed")

    def sweep(self) -> None:
        """Expire old rows; start draining online agents that still have queued rows (missed events)."""
        self._expire()
        for agent_id in self._refresh_waiting():
            if self._registry.presence(agent_id) is Presence.ONLINE:
                self.kick(agent_id)

    def _drain(self, agent_id: str) -> None:
        try:
            while not self._stop.is_set():
                self._expire()
                rows = self._select("WHERE agent_id = ? AND state = 'queued' ORDER BY id", (agent_id,), 1)
                if not rows:
                    with self._lock:
                        self._waiting.discard(agent_id)
                    return
                if self._registry.presence(agent_id) is not Presence.ONLINE:
                    return
                if not self._deliver(rows[0]):
                    return
        except Exception:
            log.exception("queue: draining %s failed", agent_id)
        finally:
            with self._lock:
                self._draining.discard(agent_id)

    def _deliver(self, row: dict[str, Any]) -> bool:
        """Run one queued command; ``False`` when the agent went offline again (the row stays queued)."""
        request_id = self._router.new_request_id()
        with self._store.transaction() as conn:
            cur = conn.execute(
                "UPDATE command_queue SET state = 'delivering', request_id = ? WHERE id = ? AND state = 'queued'",
                (request_id, row["id"]),
            )
        if cur.rowcount != 1:
            return True  # cancelled meanwhile
        ticket = self._router.dispatch(
            row["agent_id"],
            row["command"],
            row["params"] or {},
            row["timeout_s"],
            source="queue",
            request_id=request_id,
        )
        response = ticket.result()
        if not ticket.delivered and response.error_code is ErrorCode.AGENT_OFFLINE:
            with self._store.transaction() as conn:
                conn.execute("UPDATE command_queue SET state = 'queued', request_id = NULL WHERE id = ?", (row["id"],))
            return False
        result = {
            "success": response.success, "status": response.status.value, "data": response.data,
            "error": response.error, "error_code": response.error_code.value if response.error_code else None,
        }  # fmt: skip
        with self._store.transaction() as conn:
            conn.execute(
                "UPDATE command_queue SET state = 'done', result = ?, finished_at = ? WHERE id = ?",
                (json.dumps(result, default=str), time.time(), row["id"]),
            )
        self.delivered += 1
        log.info("queue: delivered %s #%d to %s: %s", row["command"], row["id"], row["agent_id"], response.status.value)
        return True
