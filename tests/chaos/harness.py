"""The fault-injection harness (``make chaos``; a short run in ``make test``): a workload through every tier of the
local twin while faults are injected at random (seeded) points, and a ledger of what each fault cost.

Workload: ``exec`` commands from the cloud API (one every ``command_every_s``, each to a random agent) whose shell
line first appends the command's own marker to ``<workdir>/runs/<agent>.log`` and then sleeps a little, so the
agent's side of the ledger counts every run of every command; and settings changes through the agents' device
shadows (``PUT /api/agents/{id}/settings``, one counter per agent).

Faults (``kill -9`` of each tier, cloud link cuts, the LMS's disk full, clock jumps, a slow link): injected and healed
in :mod:`tests.chaos.faults`; their kinds and the run's knobs in :mod:`tests.chaos.options`.

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
Settings: the agents whose reported settings never reached the last value asked for. The ledger's rows and table:
:mod:`tests.chaos.ledger`.
"""

from __future__ import annotations

import json
import random
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from typing import Any

from edge.agent.command_journal import INTERRUPTED
from infra.local.twin import Twin
from tests.chaos.agent_events import Emitted, EventWorkload, Verdict, cloud_seqs, lms_seqs
from tests.chaos.faults import LASTING, FaultInjector, RecoveryTimeout, quiet
from tests.chaos.ledger import Fault, Ledger, Row, Sent
from tests.chaos.options import ChaosOptions

TERMINAL = frozenset({"succeeded", "failed", "timed_out", "rejected", "expired", "cancelled"})
SETTING_KEY = "chaos_counter"

#: a command counts for the last fault injected before it was sent or this soon after (while it was in flight)
IN_FLIGHT_S = 5.0


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
        self.injector = FaultInjector(twin, self.opt, self.rng, self.runs_dir, self.notes)
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
        inject: Callable[[], Callable[[], bool]] = getattr(self.injector, kind)
        recovered = inject()
        started = time.monotonic() if kind in LASTING else fault.injected_at
        deadline = started + self.opt.recover_timeout_s
        while not quiet(recovered):
            if time.monotonic() > deadline:
                raise RecoveryTimeout(f"fault #{number} ({kind}) did not recover within {self.opt.recover_timeout_s} s")
            time.sleep(0.1)
        fault.recover_s = time.monotonic() - started
        self.say(f"chaos: fault #{number} {kind}: recovered in {fault.recover_s:.1f} s")

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
