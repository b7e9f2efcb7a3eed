"""The cloud's commands at the LMS under faults (issue 17): a ``busy`` agent is paced by the slots it tells and asked
again (never ``failed`` without running); an unanswered request is asked again within the delivery window; a late
answer still ends the command; requests left by a killed LMS are asked again by the next one; a row goes only once
its terminal result is in the outbox."""

from __future__ import annotations

import itertools
import threading
import time
from concurrent.futures import Future
from typing import Any

from edge.lms.commands import Fanout
from edge.lms.commands.cloud_requests import CloudRequest, CloudRequestRows, Pacer
from edge.lms.commands.progress import Progress
from edge.lms.commands.result_buffer import ResultBuffer
from edge.lms.commands.ticket import Ticket
from edge.lms.store import Store
from shared.errors import ErrorCode
from shared.messages import Response, SiteCommand, encode
from shared.messages.enums import CommandHop
from shared.names import Namespace
from tests.fixtures.outbox import RecordingOutbox


class Outbox(RecordingOutbox):
    def final(self) -> dict[tuple[str, str], str]:
        with self.cond:
            return {(r.request_id, r.agent_id): r.status.value for m in self.messages for r in m.results
                    if r.status.terminal}

    def wait_final(self, n: int) -> dict[tuple[str, str], str]:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.final()) >= n, 10.0), self.messages
        return self.final()


class Agent:
    """A fake router + agent with ``slots`` command slots: a request beyond them is answered ``busy``; each held
    request is answered when the test says so. ``silent``: requests vanish (a lost request or answer)."""

    def __init__(self, slots: int = 2, silent: int = 0) -> None:
        self.slots = slots
        self.silent = silent
        self.running: list[Ticket] = []
        self.sent: list[Ticket] = []
        self.busy_answers = 0
        self.max_running = 0
        self.lock = threading.Lock()
        self.seq = itertools.count(1)
        self.on_late: Any = None

    def new_request_id(self) -> str:
        return f"r{next(self.seq)}"

    def pending(self, _request_id: str) -> None:
        return None

    def dispatch(self, agent_id: str, command: str, params: Any, timeout_s: Any, *, source: str, request_id: str,
                 command_id: str) -> Ticket:
        ticket = Ticket(request_id, agent_id, command, params, 1.0, source, Future(), command_id=command_id)
        ticket.delivered = True
        with self.lock:
            self.sent.append(ticket)
            if self.silent:
                self.silent -= 1
                ticket.future.set_result(Response.fail(request_id, ErrorCode.TIMEOUT, "no response"))
                return ticket
            if len(self.running) >= self.slots:
                self.busy_answers += 1
                ticket.answered = True
                ticket.future.set_result(Response.fail(request_id, ErrorCode.BUSY, "all slots are busy",
                                                       {"slots": self.slots}))
                return ticket
            self.running.append(ticket)
            self.max_running = max(self.max_running, len(self.running))
        return ticket

    def finish_all(self) -> int:
        with self.lock:
            done, self.running = self.running, []
        for ticket in done:
            ticket.answered = True
            ticket.future.set_result(Response.ok(ticket.request_id, {"ok": True}))
        return len(done)


def fanout(agent: Agent, outbox: Outbox, store: Store | None = None) -> Fanout:
    return Fanout(agent, outbox, namespace=Namespace("t", "dev"), site_id="s1", store=store,  # type: ignore[arg-type]
                  buffer=ResultBuffer(hold_s=0.0, terminal_delay_s=0.0))


def command(command_id: str, expires_in_s: float = 60.0) -> bytes:
    return encode(SiteCommand(request_id=command_id, command="exec", params={"cmd": "true"}, targets=["pc-1"],
                              timeout_s=5, expires_at=time.time() + expires_in_s))


def drain(agent: Agent, outbox: Outbox, n: int) -> dict[tuple[str, str], str]:
    deadline = time.monotonic() + 20
    while len(outbox.final()) < n:
        agent.finish_all()
        assert time.monotonic() < deadline, (outbox.final(), agent.busy_answers)
        time.sleep(0.02)
    return outbox.final()


def test_a_burst_is_paced_by_the_agents_slots_and_busy_is_asked_again(store: Store) -> None:
    agent, outbox = Agent(slots=2), Outbox()
    f = fanout(agent, outbox, store)
    f.start()
    try:
        for i in range(8):
            f.handle("t", command(f"c{i}"))
        final = drain(agent, outbox, 8)
    finally:
        f.stop()
    assert set(final.values()) == {"succeeded"}, final
    assert agent.max_running <= 2
    assert agent.busy_answers <= 6  # the first burst only: then the LMS knows the agent's 2 slots
    assert CloudRequestRows(store).unfinished() == []


def test_busy_until_the_window_ends_is_expired_not_failed() -> None:
    agent, outbox = Agent(slots=0), Outbox()
    f = fanout(agent, outbox)
    f.start()
    try:
        f.handle("t", command("c1", expires_in_s=1.0))
        final = outbox.wait_final(1)
    finally:
        f.stop()
    assert final == {("c1", "pc-1"): "expired"}
    assert agent.busy_answers >= 2  # asked again before giving up


def test_an_unanswered_request_is_asked_again(store: Store) -> None:
    agent, outbox = Agent(slots=4, silent=2), Outbox()
    f = fanout(agent, outbox, store)
    f.start()
    try:
        f.handle("t", command("c1"))
        final = drain(agent, outbox, 1)
    finally:
        f.stop()
    assert final == {("c1", "pc-1"): "succeeded"}
    assert len(agent.sent) == 3 and len({t.request_id for t in agent.sent}) == 3
    assert {t.command_id for t in agent.sent} == {"c1"}  # the agent's journal keys on it: it runs once


def test_a_late_answer_ends_the_command() -> None:
    agent, outbox = Agent(slots=4, silent=1), Outbox()
    f = fanout(agent, outbox)
    f.start()
    try:
        f.handle("t", command("c1"))
        deadline = time.monotonic() + 5
        while len(agent.sent) < 1:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        f._attempts.late("pc-1", Response.ok(agent.sent[0].request_id, {"late": True}))
        final = outbox.wait_final(1)
    finally:
        f.stop()
    assert final == {("c1", "pc-1"): "succeeded"}


def test_requests_left_by_a_killed_lms_are_asked_again_at_the_next_start(store: Store) -> None:
    rows = CloudRequestRows(store)
    left = CloudRequest("c9", "pc-1", "exec", {"cmd": "true"}, 5.0, time.time() + 60, time.time())
    assert rows.admit("c9", time.time(), [left])
    assert not rows.admit("c9", time.time(), [left])  # a redelivery of the same command: nothing written
    agent, outbox = Agent(slots=4), Outbox()
    f = fanout(agent, outbox, store)
    f.start()
    try:
        final = drain(agent, outbox, 1)
    finally:
        f.stop()
    assert final == {("c9", "pc-1"): "succeeded"}
    assert [t.command_id for t in agent.sent] == ["c9"]
    assert rows.unfinished() == []


def test_a_stopping_lms_keeps_what_is_unanswered(store: Store) -> None:
    agent, outbox = Agent(slots=4), Outbox()
    f = fanout(agent, outbox, store)
    f.start()
    f.handle("t", command("c1"))
    deadline = time.monotonic() + 5
    while not agent.running:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    f.stop()
    for ticket in agent.running:  # what Router.stop does to whatever is pending
        ticket.future.set_result(Response.fail(ticket.request_id, ErrorCode.INTERNAL, "the LMS is shutting down"))
    assert outbox.final() == {}
    assert [r.key for r in CloudRequestRows(store).unfinished()] == [("c1", "pc-1")]


def test_the_pacer_learns_slots_only_from_a_sane_number() -> None:
    pacer = Pacer(total=100)
    request = CloudRequest("c", "a", "exec", {}, 1.0, None, 0.0)
    pacer.learn("a", True)
    pacer.learn("a", -1)
    pacer.learn("a", "4")
    assert all(pacer.offer(request) for _ in range(10))  # still no limit
    pacer.learn("a", 1)
    assert not pacer.offer(request)
    assert request.ask_until == 1.0  # no delivery window: its own timeout


def test_a_late_answer_from_another_agent_changes_nothing() -> None:
    agent, outbox = Agent(slots=4, silent=1), Outbox()
    f = fanout(agent, outbox)
    f.start()
    try:
        f.handle("t", command("c1"))
        deadline = time.monotonic() + 5
        while len(agent.sent) < 1:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        f._attempts.late("pc-2", Response.ok(agent.sent[0].request_id, {"forged": True}))  # not the agent it went to
        final = drain(agent, outbox, 1)  # the real answer to the request asked again
    finally:
        f.stop()
    assert final == {("c1", "pc-1"): "succeeded"}
    results = [r for m in outbox.messages for r in m.results if r.status.terminal]
    assert results[0].data == {"ok": True}


def test_a_cloud_command_left_delivering_by_a_killed_lms_is_queued_again(store: Store) -> None:
    from edge.lms.commands.queue_rows import QueueRows

    rows = QueueRows(store)
    cloud = rows.add("pc-1", "exec", {"cmd": "true"}, timeout_s=5, ttl_s=60, actor="cloud", command_id="c1")
    site = rows.add("pc-1", "exec", {"cmd": "true"}, timeout_s=5, ttl_s=60, actor="api")
    assert rows.start_delivery(cloud, "r1") and rows.start_delivery(site, "r2")
    assert rows.interrupt_delivering("the LMS stopped") == (1, 1)
    cloud_row, site_row = rows.get(cloud), rows.get(site)
    assert cloud_row is not None and cloud_row["state"] == "queued"  # its agent's journal answers it if it ran
    assert site_row is not None and site_row["state"] == "interrupted"  # no journal for site commands


def test_progress_sent_while_the_lms_was_down_counts_for_the_command_it_resumed(store: Store) -> None:
    """An agent ran a cloud command and reported ``running`` under the request id of the LMS's earlier run, which
    was killed; the site broker kept the report for the LMS. The restarted LMS no longer knows that request id:
    the report's command id matches the command it resumed (only for the agent it went to)."""
    rows = CloudRequestRows(store)
    assert rows.admit("c9", time.time(), [CloudRequest("c9", "pc-1", "exec", {}, 5.0, time.time() + 60, time.time())])
    agent, outbox = Agent(slots=4), Outbox()
    f = fanout(agent, outbox, store)
    f.start()
    try:
        deadline = time.monotonic() + 5
        while not agent.running:  # asked again
            assert time.monotonic() < deadline
            time.sleep(0.01)
        started = time.time()
        f.on_progress(Progress("old-7", "pc-2", "running", started, command_id="c9"))  # not the agent it went to
        f.on_progress(Progress("old-8", "pc-1", "running", started, command_id="c-other"))  # not a command of ours
        f.on_progress(Progress("old-9", "pc-1", "running", started, command_id="c9"))
        time.sleep(0.2)  # the worker takes the reports before the agent answers
        final = drain(agent, outbox, 1)
    finally:
        f.stop()
    assert final == {("c9", "pc-1"): "succeeded"}
    results = [r for m in outbox.messages for r in m.results]
    assert {(r.request_id, r.agent_id) for r in results} == {("c9", "pc-1")}
    assert [(r.hops or {}).get(CommandHop.STARTED) for r in results if r.status.terminal] == [started]
