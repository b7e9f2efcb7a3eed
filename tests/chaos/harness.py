"""The fault-injection harness (``make chaos``; a short run in ``make test``): a workload through every tier of the
local twin while faults are injected at random (seeded) points, and a ledger of what each fault cost.

Workload: ``exec`` commands from the cloud API (one every ``command_every_s``, each to a random agent) whose shell
line first appends the command's own marker to ``<workdir>/runs/<agent>.log`` and then sleeps a little, so the
agent's side of the ledger counts every run of every command; and settings changes through the agents' device
shadows (``PUT /api/agents/{id}/settings``, one counter per agent).

Faults (:data:`FAULT_KINDS`): ``kill -9`` of the LMS, of an agent while one of its ``exec`` commands runs, of the
site broker, of the IoT Core stand-in; a cloud link cut (the relay between the LMS and the stand-in cut for
``link_cut_s``: infra/local/link_proxy.py); the LMS's disk full (a file fills the LMS's own small filesystem —
tests/chaos/twin.py — for ``disk_full_s``, then is deleted); a clock jump (the wall clock of the LMS, of an agent or
of both stepped an hour forward or back for ``clock_jump_s``, then right again: infra/local/clock_shift); a slow link
(the relay delays every chunk and "loses" some, i.e. retransmits them late, for ``slow_link_s``). The twin's
supervisor restarts what was killed (infra/local/supervisor.py); the harness waits for the restart and for the
system to be whole again, and times it (from the injection; for the faults that last a while, from their end).

The ledger, per fault kind (a command counts for the fault injected last before it was sent or within
:data:`IN_FLIGHT_S` after, while it was in flight; ``none`` before the first): commands sent; **lost** (it never
ran on its agent, or ran but its cloud record did not end ``succeeded``);
**run twice** (its marker appears more than once in the agent's runs file); **no terminal state** (still open in
the cloud after the recovery window); **interrupted** (ran once, and its agent was killed while it ran: it ends
``failed`` with the journal's "interrupted" and is not run again — not a loss); the progress events each run
produces (the agent's ``command.state`` ``running``, which reaches the cloud as the ``started`` hop): **lost** (the
command ran but the cloud has no ``started`` hop) and **out of order** (``started`` after ``finished``) —
duplicates are not observable there (the cloud keeps each hop's first time: ``n/a``); and the time to recover
(p50, max).
Settings: the agents whose reported settings never reached the last value asked for.
"""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import sqlite3
import statistics
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edge.agent.command_journal import INTERRUPTED
from infra.local.link_proxy import LinkShape
from infra.local.twin import Twin
from tests.chaos.agent_events import Emitted, EventWorkload, Verdict, cloud_seqs, lms_seqs

FAULT_KINDS = ("lms_kill", "agent_kill_mid_exec", "site_broker_kill", "iot_core_kill", "cloud_link_cut", "disk_full",
               "clock_jump", "slow_link")
#: the faults that last a while: their recovery is timed from their end
LASTING = frozenset({"cloud_link_cut", "disk_full", "clock_jump", "slow_link"})
FILL_FILE = "chaos-fill"
TERMINAL = frozenset({"succeeded", "failed", "timed_out", "rejected", "expired", "cancelled"})
SETTING_KEY = "chaos_counter"


@dataclass
class ChaosOptions:
    faults: int = 5
    seed: int = 17
    kinds: tuple[str, ...] = FAULT_KINDS
    command_every_s: float = 0.25
    settings_every_s: float = 2.0
    #: quiet time between the recovery of one fault and the next (random in this range)
    gap_s: tuple[float, float] = (1.0, 3.0)
    link_cut_s: tuple[float, float] = (3.0, 8.0)
    disk_full_s: tuple[float, float] = (4.0, 10.0)
    disk_full_max_s: float = 40.0
    clock_jump_s: tuple[float, float] = (4.0, 10.0)
    clock_jump_by_s: float = 3600.0
    slow_link_s: tuple[float, float] = (5.0, 12.0)
    slow_delay_s: tuple[float, float] = (0.1, 0.6)
    slow_loss: tuple[float, float] = (0.02, 0.2)
    #: how long one fault may take to recover before the run fails
    recover_timeout_s: float = 90.0
    #: after the last fault, how long every command gets to reach a terminal state
    settle_timeout_s: float = 180.0
    exec_sleep_s: tuple[float, float] = (0.1, 0.8)
    #: one numbered event dropped into an agent's spool this often (tests/chaos/agent_events.py)
    event_every_s: float = 0.25
    #: after the commands settled, how long every event gets to reach the cloud
    events_timeout_s: float = 120.0
    #: every kind once (``faults`` must equal the number of kinds), in a seeded order: the short run of make test
    each_once: bool = False


class RecoveryTimeout(AssertionError):
    """A fault the system did not heal from within ``recover_timeout_s``."""


#: a command counts for the last fault injected before it was sent or this soon after (while it was in flight)
IN_FLIGHT_S = 5.0


@dataclass
class Sent:
    command_id: str
    agent_id: str
    marker: str
    at: float  # time.monotonic() when the cloud API took it


@dataclass
class Fault:
    kind: str
    injected_at: float
    recover_s: float | None = None


#: the ledger's counts, in the table's order
COUNTS = ("faults", "commands", "lost", "run_twice", "no_terminal", "interrupted", "progress_lost",
          "progress_out_of_order", "events", "events_lost", "events_dup", "events_out_of_order")


@dataclass
class Row:
    kind: str
    faults: int = 0
    commands: int = 0
    lost: int = 0
    run_twice: int = 0
    no_terminal: int = 0
    interrupted: int = 0
    progress_lost: int = 0
    progress_out_of_order: int = 0
    events: int = 0
    events_lost: int = 0
    events_dup: int = 0
    events_out_of_order: int = 0
    recover: list[float] = field(default_factory=list)

    def cells(self) -> list[str]:
        p50 = f"{statistics.median(self.recover):.1f}" if self.recover else "-"
        top = f"{max(self.recover):.1f}" if self.recover else "-"
        counts = [getattr(self, name) for name in COUNTS]
        return [self.kind, *(str(c) for c in counts), p50, top]

    @property
    def failures(self) -> int:
        """What the run must not have: commands lost, run twice or unfinished; progress or events lost, duplicated
        or out of order."""
        return sum(getattr(self, name) for name in COUNTS if name not in ("faults", "commands", "interrupted",
                                                                          "events"))


@dataclass
class Ledger:
    rows: dict[str, Row]
    settings_unapplied: list[str]
    details: list[str]
    integrity: str = "ok"  # the LMS's database after the run (PRAGMA integrity_check)
    unrecovered: list[str] = field(default_factory=list)

    @property
    def total(self) -> Row:
        total = Row("total")
        for row in self.rows.values():
            for name in COUNTS:
                setattr(total, name, getattr(total, name) + getattr(row, name))
            total.recover.extend(row.recover)
        return total

    def table(self) -> str:
        head = ["fault", "faults", "commands", "lost", "run twice", "no terminal", "interrupted", "prog lost",
                "prog order", "events", "ev lost", "ev dup", "ev order", "recover p50 s", "recover max s"]
        lines = [head, *(r.cells() for r in self.rows.values()), self.total.cells()]
        widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
        out = ["  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
        out.insert(1, "  ".join("-" * w for w in widths))
        out.append(f"settings not applied: {len(self.settings_unapplied)} {self.settings_unapplied or ''}".rstrip())
        out.append(f"LMS database integrity: {self.integrity}")
        out.extend(f"NOT RECOVERED: {u}" for u in self.unrecovered)
        return "\n".join(out)


class Chaos:
    def __init__(self, twin: Twin, options: ChaosOptions | None = None, say: Callable[[str], None] = print) -> None:
        self.twin = twin
        self.opt = options or ChaosOptions()
        self.say = say
        self.rng = random.Random(self.opt.seed)  # the faults: which, when, how long (the same for a seed)
        self.work_rng = random.Random(self.opt.seed + 1)  # the workload's thread (it must not shift the faults)
        self.runs_dir = twin.workdir / "runs"
        self.runs_dir.mkdir(exist_ok=True)
        self.runs_dir.chmod(0o777)
        self.sent: list[Sent] = []
        self.faults: list[Fault] = []
        self.errors: list[str] = []
        self.settings_wanted: dict[str, int] = {}
        self.notes: list[str] = []  # what the faults showed on their way (health during a full disk...)
        self.unrecovered: list[str] = []  # a fault the system did not heal from (the run stops injecting)
        self.events = EventWorkload(twin.workdir, list(twin.agents), self.opt.seed, self.opt.event_every_s)
        self._stop = threading.Event()
        self._seq = 0
        self._lock = threading.Lock()

    # ------------------------------------------------------------ the run

    def run(self) -> Ledger:
        workers = [threading.Thread(target=self._commands, name="chaos-commands", daemon=True),
                   threading.Thread(target=self._settings, name="chaos-settings", daemon=True),
                   threading.Thread(target=self.events.loop, args=(self._stop,), name="chaos-events", daemon=True)]
        for w in workers:
            w.start()
        order = list(self.opt.kinds)
        self.rng.shuffle(order)
        try:
            for i in range(self.opt.faults):
                time.sleep(self.rng.uniform(*self.opt.gap_s))
                kind = order[i % len(order)] if self.opt.each_once else self.rng.choice(self.opt.kinds)
                try:
                    self._inject(i + 1, kind)
                except RecoveryTimeout as exc:  # the system did not heal: no more faults, but the ledger so far
                    self.unrecovered.append(str(exc))
                    self.say(f"chaos: {exc}; no more faults")
                    break
            time.sleep(self.opt.gap_s[1])
        finally:
            self._stop.set()
            for w in workers:
                w.join(10)
        return self._ledger()

    def _inject(self, number: int, kind: str) -> None:
        fault = Fault(kind, time.monotonic())
        with self._lock:
            self.faults.append(fault)
        inject: Callable[[], Callable[[], bool]] = getattr(self, f"_{kind}")
        recovered = inject()
        started = time.monotonic() if kind in LASTING else fault.injected_at
        deadline = started + self.opt.recover_timeout_s
        while not _quiet(recovered):
            if time.monotonic() > deadline:
                raise RecoveryTimeout(f"fault #{number} ({kind}) did not recover within {self.opt.recover_timeout_s} s")
            time.sleep(0.1)
        fault.recover_s = time.monotonic() - started
        self.say(f"chaos: fault #{number} {kind}: recovered in {fault.recover_s:.1f} s")

    # ------------------------------------------------------------ faults (each returns its recovery check)

    def _restarted(self, part: str) -> Callable[[], bool]:
        """A check that the supervisor restarted ``part`` since now (a kill is not healed before that)."""
        before = self.twin.supervisor.restarts(part)
        return lambda: self.twin.supervisor.restarts(part) > before

    def _lms_kill(self) -> Callable[[], bool]:
        assert self.twin.lms is not None
        restarted = self._restarted("LMS")
        self.twin.lms.kill(signal.SIGKILL)
        return lambda: restarted() and self._lms_whole()

    def _agent_kill_mid_exec(self) -> Callable[[], bool]:
        agent_id = self.rng.choice(list(self.twin.agents))
        runs = self.runs_dir / f"{agent_id}.log"
        before = _size(runs)
        deadline = time.monotonic() + 10
        while _size(runs) == before and time.monotonic() < deadline:  # one of its exec commands has just started
            time.sleep(0.02)
        restarted = self._restarted(f"agent {agent_id}")
        self.twin.agents[agent_id].kill(signal.SIGKILL)
        return lambda: restarted() and self._agent_alive(agent_id) and self._online_at_lms({agent_id})

    def _site_broker_kill(self) -> Callable[[], bool]:
        assert self.twin.site_broker is not None and self.twin.site_broker.pid is not None
        restarted = self._restarted("site broker")
        os.kill(self.twin.site_broker.pid, signal.SIGKILL)
        return lambda: restarted() and self._lms_whole()

    def _iot_core_kill(self) -> Callable[[], bool]:
        assert self.twin.cloud_broker is not None and self.twin.cloud_broker.pid is not None
        restarted = self._restarted("IoT Core stand-in")
        os.kill(self.twin.cloud_broker.pid, signal.SIGKILL)
        return lambda: restarted() and self._lms_whole()

    def _cloud_link_cut(self) -> Callable[[], bool]:
        """The site's uplink is cut (the relay between the LMS and the stand-in); IoT Core keeps running."""
        proxy = self.twin.link_proxy
        assert proxy is not None, "the chaos twin relays the cloud link (TwinOptions.cloud_link_proxy)"
        proxy.cut()
        time.sleep(self.rng.uniform(*self.opt.link_cut_s))
        proxy.restore()
        return self._lms_whole

    def _disk_full(self) -> Callable[[], bool]:
        """The LMS's filesystem filled to the last byte while the workload writes; then the filler is deleted.
        Recovered: the LMS whole and its database taking writes again (``GET /api/health``'s ``store``)."""
        fill = self.twin.lms_dir / FILL_FILE
        _fill(fill)
        started = time.monotonic()
        hold_until = started + self.rng.uniform(*self.opt.disk_full_s)
        refused = False
        # full for the time drawn, and on until the LMS has had to refuse a write (its WAL had room left)
        while time.monotonic() < hold_until or (not refused and time.monotonic() < started + self.opt.disk_full_max_s):
            store = _quiet_value(lambda: self.twin.lms_api("/api/health")["data"].get("store")) or {}
            refused = refused or store.get("writable") is False
            time.sleep(0.2)
        fill.unlink()
        self.notes.append(f"disk_full {time.monotonic() - started:.1f} s: the LMS's health said its database "
                          f"refused writes: {'yes' if refused else 'no'}")
        return lambda: self._lms_whole() and self._store_writable()

    def _clock_jump(self) -> Callable[[], bool]:
        """The wall clock of the LMS, an agent or both stepped an hour forward or back, then right again."""
        agent_id = self.rng.choice(list(self.twin.agents))
        parts = self.rng.choice((["lms"], [agent_id], ["lms", agent_id]))
        by = self.rng.choice((1.0, -1.0)) * self.opt.clock_jump_by_s
        for part in parts:
            self.twin.shift_clock(part, by)
        time.sleep(self.rng.uniform(*self.opt.clock_jump_s))
        for part in parts:
            self.twin.shift_clock(part, 0.0)
        self.notes.append(f"clock_jump {'+' if by > 0 else ''}{by:g} s on {', '.join(parts)}")
        return self._lms_whole

    def _slow_link(self) -> Callable[[], bool]:
        """The site's uplink slow and lossy (the relay delays each chunk, retransmits some late), then well."""
        proxy = self.twin.link_proxy
        assert proxy is not None, "the chaos twin relays the cloud link (TwinOptions.cloud_link_proxy)"
        shape = LinkShape(delay_s=self.rng.uniform(*self.opt.slow_delay_s), loss=self.rng.uniform(*self.opt.slow_loss))
        proxy.shape(shape)
        time.sleep(self.rng.uniform(*self.opt.slow_link_s))
        proxy.unshape()
        return self._lms_whole

    # ------------------------------------------------------------ recovery checks

    def _lms_whole(self) -> bool:
        """The LMS answers, is connected to the site broker and the cloud, and sees every agent online."""
        health = self.twin.lms_api("/api/health")["data"]
        cloud = health.get("cloud") or {}
        return bool(health["site_broker"]["connected"] and cloud.get("connected")
                    and self._online_at_lms(set(self.twin.agents)))

    def _store_writable(self) -> bool:
        return bool(self.twin.lms_api("/api/health")["data"]["store"]["writable"])

    def _online_at_lms(self, agent_ids: set[str]) -> bool:
        online = self.twin.lms_api("/api/clients/online", self.twin.lms_token)
        return agent_ids <= {c["uuid"] for c in _items(online)}

    def _agent_alive(self, agent_id: str) -> bool:
        return self.twin.agents[agent_id].alive

    # ------------------------------------------------------------ workload

    def _commands(self) -> None:
        agents = list(self.twin.agents)
        while not self._stop.wait(self.opt.command_every_s):
            self._seq += 1
            agent_id = self.work_rng.choice(agents)
            marker = f"m{self.opt.seed}-{self._seq}"
            line = (f"echo {marker} >> {self.runs_dir / (agent_id + '.log')}; "
                    f"sleep {self.work_rng.uniform(*self.opt.exec_sleep_s):.2f}")
            body = {"agent_id": agent_id, "command": "exec", "params": {"cmd": line, "timeout_s": 30}}
            try:
                status, answer = self._cloud("POST", "/api/commands", body)
            except OSError as exc:
                self.errors.append(f"POST /api/commands: {exc}")
                continue
            if status != 202:
                self.errors.append(f"POST /api/commands: {status} {answer}")
                continue
            with self._lock:
                self.sent.append(Sent(str(answer["data"]["command_id"]), agent_id, marker, time.monotonic()))

    def _settings(self) -> None:
        agents = list(self.twin.agents)
        n = 0
        while not self._stop.wait(self.opt.settings_every_s):
            n += 1
            agent_id = agents[n % len(agents)]
            try:
                status, answer = self._cloud("PUT", f"/api/agents/{agent_id}/settings",
                                             {"settings": {SETTING_KEY: str(n)}})
            except OSError as exc:
                self.errors.append(f"PUT settings: {exc}")
                continue
            if status == 200:
                self.settings_wanted[agent_id] = n
            else:
                self.errors.append(f"PUT settings of {agent_id}: {status} {answer}")

    def _cloud(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.twin.api_url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        req.add_header("Authorization", f"Bearer {self.twin.admin_token}")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null")

    # ------------------------------------------------------------ the ledger

    def _records(self) -> dict[str, dict[str, Any]]:
        """Each sent command's cloud record, waiting (up to the settle timeout) for every one to end."""
        records: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + self.opt.settle_timeout_s
        while True:
            for s in self.sent:
                if s.command_id in records and records[s.command_id]["status"] in TERMINAL:
                    continue
                status, body = self._cloud("GET", f"/api/commands/{s.command_id}")
                if status == 200:
                    records[s.command_id] = body["data"]
            open_ = [s for s in self.sent if records.get(s.command_id, {}).get("status") not in TERMINAL]
            if not open_ or time.monotonic() > deadline:
                return records
            time.sleep(1.0)

    def _ledger(self) -> Ledger:
        records = self._records()
        runs: dict[str, Counter[str]] = {}
        for agent_id in self.twin.agents:
            path = self.runs_dir / f"{agent_id}.log"
            runs[agent_id] = Counter(path.read_text().split()) if path.exists() else Counter()
        rows = {kind: Row(kind) for kind in ("none", *self.opt.kinds)}
        for fault in self.faults:
            rows[fault.kind].faults += 1
            if fault.recover_s is not None:
                rows[fault.kind].recover.append(fault.recover_s)
        details: list[str] = []
        for s in self.sent:
            kind = self._kind_at(s.at)
            row = rows[kind]
            row.commands += 1
            ran = runs[s.agent_id][s.marker]
            record = records.get(s.command_id, {})
            outcome = (record.get("results") or {}).get(s.agent_id) or {}
            status = outcome.get("status", record.get("status"))
            if status not in TERMINAL:
                row.no_terminal += 1
                details.append(f"{s.command_id} ({kind}, {s.agent_id}): no terminal state ({status}), ran {ran}x")
            if ran == 1 and status == "failed" and outcome.get("error") == INTERRUPTED:
                row.interrupted += 1  # its agent was killed while it ran: an honest end, not run again
            elif ran == 0 or status != "succeeded":
                row.lost += 1
                details.append(f"{s.command_id} ({kind}, {s.agent_id}): lost: ran {ran}x, ended {status}: "
                               f"{outcome.get('error')}")
            if ran > 1:
                row.run_twice += 1
                details.append(f"{s.command_id} ({kind}, {s.agent_id}): ran {ran} times")
            hops = outcome.get("hops") or {}
            if ran and "started" not in hops:
                row.progress_lost += 1
                details.append(f"{s.command_id} ({kind}, {s.agent_id}): its started hop is lost: {hops}")
            elif "started" in hops and "finished" in hops and hops["started"] > hops["finished"]:
                row.progress_out_of_order += 1
                details.append(f"{s.command_id} ({kind}, {s.agent_id}): started after finished: {hops}")
        for emitted, verdict in self._event_verdicts().items():
            kind = self._kind_at(emitted.at)
            row = rows[kind]
            row.events += 1
            row.events_lost += verdict.lost
            row.events_dup += verdict.duplicated
            row.events_out_of_order += verdict.out_of_order
            if verdict.lost or verdict.duplicated or verdict.out_of_order:
                details.append(
                    f"event #{emitted.seq} of {emitted.agent_id} ({kind}; {self._since_fault(emitted.at)}): {verdict}"
                )
        integrity = self._integrity()
        if integrity != "ok":
            self.errors.append(f"the LMS's database failed its integrity check: {integrity}")
        return Ledger(rows, self._settings_unapplied(), details + self.notes + self.errors, integrity,
                      self.unrecovered)

    def _kind_at(self, at: float) -> str:
        """The fault something sent at ``at`` counts for: the last injected before it or within IN_FLIGHT_S after."""
        return next((f.kind for f in reversed(self.faults) if f.injected_at <= at + IN_FLIGHT_S), "none")

    def _since_fault(self, at: float) -> str:
        """When ``at`` was, from the fault injected last before it (a loss may show under the next fault's row)."""
        before = [(n, f) for n, f in enumerate(self.faults, 1) if f.injected_at <= at]
        if not before:
            return "before the first fault"
        n, fault = before[-1]
        return f"emitted {at - fault.injected_at:.1f} s after fault #{n} {fault.kind}"

    def _event_verdicts(self) -> dict[Emitted, Verdict]:
        """Every emitted event judged, once all are in the cloud (or ``events_timeout_s`` passed)."""
        agents, run = list(self.twin.agents), self.opt.seed
        deadline = time.monotonic() + self.opt.events_timeout_s
        while True:
            cloud = {a: cloud_seqs(lambda path: self._cloud("GET", path), a, run) for a in agents}
            held = sum(len(set(seqs)) for seqs in cloud.values())
            if held >= len(self.events.emitted) or time.monotonic() > deadline:
                break
            time.sleep(2.0)
        try:
            lms = lms_seqs(self.twin.lms_dir / "lms.db", run)
        except sqlite3.Error as exc:
            self.errors.append(f"cannot read the LMS's event log: {exc}")
            lms = {}
        return self.events.judge(cloud, lms)

    def _integrity(self) -> str:
        """``PRAGMA integrity_check`` of the LMS's database (read only, beside the running LMS)."""
        db = self.twin.lms_dir / "lms.db"
        try:
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
            try:
                return "; ".join(str(r[0]) for r in conn.execute("PRAGMA integrity_check").fetchall())
            finally:
                conn.close()
        except sqlite3.Error as exc:
            return f"cannot check: {exc}"

    def _settings_unapplied(self) -> list[str]:
        deadline = time.monotonic() + 60
        missing = list(self.settings_wanted)
        while missing and time.monotonic() < deadline:
            missing = []
            for agent_id, wanted in self.settings_wanted.items():
                status, body = self._cloud("GET", f"/api/agents/{agent_id}/settings")
                reported = ((body or {}).get("data") or {}).get("reported") or {} if status == 200 else {}
                if str(reported.get(SETTING_KEY)) != str(wanted):
                    missing.append(agent_id)
            if missing:
                time.sleep(1.0)
        return missing


def _quiet(check: Callable[[], bool]) -> bool:
    try:
        return check()
    except (OSError, KeyError, TypeError, ValueError):  # the LMS restarting: connection refused, no data yet
        return False


def _quiet_value(get: Callable[[], Any]) -> Any:
    try:
        return get()
    except (OSError, KeyError, TypeError, ValueError):
        return None


def _fill(path: Any) -> None:
    """Write ``path`` until its filesystem is full (ENOSPC)."""
    chunk = b"\0" * (1 << 20)
    with open(path, "wb", buffering=0) as f:
        while True:
            try:
                f.write(chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                if len(chunk) == 1:
                    return
                chunk = chunk[: len(chunk) // 16 or 1]


def _size(path: Any) -> int:
    try:
        return int(path.stat().st_size)
    except OSError:
        return 0


def _items(body: Any) -> list[dict[str, Any]]:
    data = body.get("data") if isinstance(body, dict) else body
    if isinstance(data, dict):
        data = data.get("items") or data.get("clients") or []
    return data if isinstance(data, list) else []
