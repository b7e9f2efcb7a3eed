"""The chaos run's events: each agent emits numbered events (``health.chaos``, ``data.seq`` counting up per agent)
through every tier — its test-only event spool (``[event_spool]``, :mod:`edge.agent.event_spool`), its durable
outbox, the site broker, the LMS (stored in its event log, forwarded through its outbox), the IoT Core stand-in, the
rules engine, the cloud's events table — and the ledger counts, per event: **lost** (not in the cloud, ``GET
/api/cctv/events?agent_id=``), **duplicated** (stored more than once, in the cloud or in the LMS's event log) and
**out of order** (the LMS received it after a later event of the same agent: its event log's order)."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

KIND = "health.chaos"  # ``health.*`` events reach the cloud whatever their severity


@dataclass(frozen=True, slots=True)
class Emitted:
    agent_id: str
    seq: int
    at: float  # time.monotonic() when it was dropped into the agent's spool


@dataclass(frozen=True, slots=True)
class Verdict:
    lost: bool
    duplicated: bool
    out_of_order: bool


def spool_dir(workdir: Path, agent_id: str) -> Path:
    """The agent's event spool in the chaos twin (``[event_spool] directory``)."""
    return workdir / "spool" / agent_id


class EventWorkload:
    """Drops one event every ``every_s`` into the agents' spools in turn (written aside, renamed into place)."""

    def __init__(self, workdir: Path, agents: list[str], run: int, every_s: float) -> None:
        self.workdir = workdir
        self.agents = agents
        self.run_id = run
        self.every_s = every_s
        self.emitted: list[Emitted] = []
        self._seq: dict[str, int] = dict.fromkeys(agents, 0)
        for agent_id in agents:
            spool_dir(workdir, agent_id).mkdir(parents=True, exist_ok=True)
            spool_dir(workdir, agent_id).chmod(0o777)

    def loop(self, stop: threading.Event) -> None:
        turn = 0
        while not stop.wait(self.every_s):
            agent_id = self.agents[turn % len(self.agents)]
            turn += 1
            self._seq[agent_id] += 1
            seq = self._seq[agent_id]
            body = {
                "type": "event",
                "timestamp": time.time(),
                "kind": KIND,
                "severity": "info",
                "message": f"chaos {self.run_id} {agent_id} #{seq}",
                "data": {"run": self.run_id, "seq": seq},
            }
            directory = spool_dir(self.workdir, agent_id)
            aside = directory / f"{seq:08d}.tmp"
            aside.write_text(json.dumps(body))
            os.replace(aside, directory / f"{seq:08d}.json")
            self.emitted.append(Emitted(agent_id, seq, time.monotonic()))

    def judge(self, cloud: dict[str, list[int]], lms: dict[str, list[int]]) -> dict[Emitted, Verdict]:
        """Each emitted event's verdict from the seqs the cloud holds and the LMS's event log (in arrival order)."""
        out: dict[Emitted, Verdict] = {}
        for agent_id in self.agents:
            in_cloud, in_lms = Counter(cloud.get(agent_id, [])), Counter(lms.get(agent_id, []))
            late: set[int] = set()
            seen: set[int] = set()
            highest = 0
            for seq in lms.get(agent_id, []):  # first arrivals only: a repeat is a duplicate, not disorder
                if seq not in seen and seq < highest:
                    late.add(seq)
                seen.add(seq)
                highest = max(highest, seq)
            for e in (e for e in self.emitted if e.agent_id == agent_id):
                out[e] = Verdict(lost=in_cloud[e.seq] == 0, duplicated=in_cloud[e.seq] > 1 or in_lms[e.seq] > 1,
                                 out_of_order=e.seq in late)  # fmt: skip
        return out


def cloud_seqs(get: Callable[[str], tuple[int, Any]], agent_id: str, run: int) -> list[int]:
    """The seqs of this run's events the cloud holds for ``agent_id`` (every page of its events log)."""
    seqs: list[int] = []
    cursor: str | None = None
    while True:
        path = f"/api/cctv/events?agent_id={agent_id}&limit=100" + (f"&cursor={quote(cursor)}" if cursor else "")
        status, body = get(path)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {body}")
        data = body["data"]
        seqs += [e["data"]["seq"] for e in data["events"] if e["kind"] == KIND and e["data"].get("run") == run]
        cursor = data.get("cursor")
        if not cursor:
            return seqs


def lms_seqs(db: Path, run: int) -> dict[str, list[int]]:
    """This run's events in the LMS's event log, per agent, in the order the LMS stored them."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        rows = conn.execute("SELECT agent_id, data FROM events WHERE kind = ? ORDER BY id", (KIND,)).fetchall()
    finally:
        conn.close()
    out: dict[str, list[int]] = {}
    for agent_id, data in rows:
        body = json.loads(data or "{}")
        if body.get("run") == run:
            out.setdefault(agent_id, []).append(int(body["seq"]))
    return out
