"""What the LMS sends the cloud about its cloud commands: batched, changed-only, statuses only forward, every hop
known riding along (edge/lms/commands/result_buffer.py)."""

from __future__ import annotations

import pytest

from edge.lms.commands.result_buffer import MAX_RESULTS_PER_MESSAGE, Report, ResultBuffer, ordered_hops
from shared.errors import ErrorCode
from shared.messages import CommandStatus, Response
from shared.messages.command import CommandHop
from tests.fixtures.clock import Clock

Q, D, R = CommandStatus.QUEUED, CommandStatus.DELIVERED, CommandStatus.RUNNING


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def buffer(clock: Clock) -> ResultBuffer:
    return ResultBuffer(hold_s=1.0, terminal_delay_s=0.05, clock=clock)


def ok(rid: str = "r") -> Response:
    return Response.ok(rid, {"x": 1})


def test_progress_waits_and_is_replaced_by_what_follows(buffer: ResultBuffer, clock: Clock) -> None:
    assert buffer.wait_s() is None and not buffer.due()
    buffer.add(Report("c1", "a1", D, {CommandHop.RECEIVED: 1.0, CommandHop.DELIVERED: 2.0}))
    assert buffer.wait_s() == pytest.approx(1.0) and not buffer.due()
    clock.now += 0.2
    buffer.add(Report("c1", "a1", R, {CommandHop.STARTED: 3.0}))
    buffer.add(Report("c1", "a1", CommandStatus.SUCCEEDED, {CommandHop.FINISHED: 4.0}, response=ok()))
    assert len(buffer) == 1 and not buffer.due()
    clock.now += 0.05
    assert buffer.due()
    [result] = buffer.take()
    assert result.status is CommandStatus.SUCCEEDED and result.success is True and result.data == {"x": 1}
    assert result.request_id == "c1" and result.agent_id == "a1"
    assert list(result.hops or {}) == [CommandHop.RECEIVED, CommandHop.DELIVERED, CommandHop.STARTED,
                                       CommandHop.FINISHED]
    assert len(buffer) == 0 and buffer.wait_s() is None


def test_only_changes_are_sent_and_hops_ride_along(buffer: ResultBuffer, clock: Clock) -> None:
    buffer.add(Report("c1", "a1", Q, {CommandHop.RECEIVED: 1.0, CommandHop.QUEUED: 1.5}))
    clock.now += 1.0
    assert buffer.due()
    assert [r.status for r in buffer.take()] == [Q]
    assert not buffer.add(Report("c1", "a1", Q, {CommandHop.QUEUED: 9.0}))  # a repeat: nothing to send
    buffer.add(Report("c1", "a1", D, {CommandHop.DELIVERED: 5.0}))
    clock.now += 1.0
    [delivered] = buffer.take()
    assert delivered.hops == {CommandHop.RECEIVED: 1.0, CommandHop.QUEUED: 1.5, CommandHop.DELIVERED: 5.0}
    assert not buffer.add(Report("c1", "a1", Q, {}))  # an agent's slot-queue after `delivered` was sent: no step back
    buffer.add(Report("c1", "a1", R, {CommandHop.STARTED: 6.0}))
    assert [r.status for r in buffer.take()] == [R]


def test_an_agent_queueing_for_a_slot_replaces_an_unsent_delivered(buffer: ResultBuffer) -> None:
    buffer.add(Report("c1", "a1", D, {CommandHop.DELIVERED: 2.0}))
    assert buffer.add(Report("c1", "a1", Q, {CommandHop.QUEUED: 2.1}))
    [result] = buffer.take()
    assert result.status is Q and set(result.hops or {}) == {CommandHop.DELIVERED, CommandHop.QUEUED}
    assert buffer.add(Report("c1", "a1", R, {}))
    buffer.add(Report("c1", "a1", CommandStatus.SUCCEEDED, {}, response=ok()))
    assert not buffer.add(Report("c1", "a1", R, {}))  # a late or redelivered running never replaces the end


def test_after_the_end_late_reports_are_dropped(buffer: ResultBuffer) -> None:
    fail = Response.fail("r", ErrorCode.TIMEOUT, "no answer")
    buffer.add(Report("c1", "a1", CommandStatus.TIMED_OUT, {}, response=fail))
    [result] = buffer.take()
    assert result.status is CommandStatus.TIMED_OUT and result.error_code is ErrorCode.TIMEOUT
    assert result.success is False and result.hops is None
    assert not buffer.add(Report("c1", "a1", R, {CommandHop.STARTED: 1.0}))
    assert len(buffer) == 0


def test_dropped_commands_carry_their_reason(buffer: ResultBuffer) -> None:
    buffer.add(Report("c1", "a1", Q, {CommandHop.QUEUED: 1.0}))
    buffer.add(Report("c1", "a1", CommandStatus.EXPIRED, error="expired in the queue", error_code=ErrorCode.TIMEOUT))
    [result] = buffer.take()
    assert (result.status, result.success, result.error, result.error_code) == (
        CommandStatus.EXPIRED, False, "expired in the queue", ErrorCode.TIMEOUT)
    assert result.hops == {CommandHop.QUEUED: 1.0}


def test_many_agents_make_one_batch_and_a_full_batch_is_due_at_once(buffer: ResultBuffer) -> None:
    for i in range(MAX_RESULTS_PER_MESSAGE):
        buffer.add(Report("c1", f"a{i}", D, {CommandHop.DELIVERED: 1.0}))
    assert buffer.due()
    assert len(buffer.take()) == MAX_RESULTS_PER_MESSAGE


def test_noted_hops_leave_with_the_next_status(buffer: ResultBuffer) -> None:
    buffer.note("c1", "a9", {CommandHop.RECEIVED: 1.0})
    assert len(buffer) == 0 and buffer.wait_s() is None
    buffer.add(Report("c1", "a9", CommandStatus.FAILED, {},
                      response=Response.fail("r", ErrorCode.UNKNOWN_AGENT, "unknown agent")))
    [result] = buffer.take()
    assert result.hops == {CommandHop.RECEIVED: 1.0} and result.error_code is ErrorCode.UNKNOWN_AGENT


def test_a_huge_result_is_replaced_by_a_note(buffer: ResultBuffer) -> None:
    buffer.add(Report("c1", "a1", CommandStatus.SUCCEEDED, {}, response=ok().model_copy(
        update={"data": {"blob": "x" * 100_000}})))
    [result] = buffer.take()
    assert result.data["truncated"] is True


@pytest.mark.parametrize(("hops", "now", "expected"), [
    # the agent's clock an hour ahead: its "started" is kept before the LMS's "finished"
    ({"received": 10.0, "delivered": 11.0, "started": 3612.0, "finished": 13.0}, 20.0,
     {"received": 10.0, "delivered": 11.0, "started": 13.0, "finished": 13.0}),
    # ... and before the LMS's now while it runs
    ({"delivered": 11.0, "started": 3612.0}, 12.5, {"delivered": 11.0, "started": 12.5}),
    # the agent's clock an hour behind: after "delivered"
    ({"delivered": 11.0, "started": -3588.0, "finished": 13.0}, 20.0,
     {"delivered": 11.0, "started": 11.0, "finished": 13.0}),
    # the LMS's own clock stepped back between "delivered" and "finished"
    ({"received": 10.0, "delivered": 11.0, "finished": -3587.0}, 20.0,
     {"received": 10.0, "delivered": 11.0, "finished": 11.0}),
    # "queued" (in the LMS's queue, or on the agent for a slot) is left where it is; right clocks change nothing
    ({"received": 10.0, "delivered": 11.0, "queued": 11.5, "started": 12.0, "finished": 13.0}, 20.0,
     {"received": 10.0, "delivered": 11.0, "queued": 11.5, "started": 12.0, "finished": 13.0}),
])  # fmt: skip
def test_hops_keep_the_order_the_lms_saw_whatever_the_clocks_said(
    hops: dict[str, float], now: float, expected: dict[str, float]
) -> None:
    got = ordered_hops({CommandHop(k): v for k, v in hops.items()}, now)
    assert {k.value: v for k, v in got.items()} == expected


def test_a_hop_after_one_the_cloud_has_is_ordered_after_it(buffer: ResultBuffer, clock: Clock) -> None:
    """The cloud keeps each hop's first time: ``started`` went out (the agent's clock, right), then the LMS's clock
    stepped back an hour before ``finished``; ``finished`` is moved up to the ``started`` the cloud has."""
    buffer.add(Report("c1", "a1", D, {CommandHop.RECEIVED: 100.0, CommandHop.DELIVERED: 100.2}))
    buffer.add(Report("c1", "a1", R, {CommandHop.STARTED: 101.4}))
    clock.now = 101.5
    [first] = buffer.take()
    assert first.hops is not None and first.hops[CommandHop.STARTED] == 101.4
    buffer.add(Report("c1", "a1", CommandStatus.SUCCEEDED, {CommandHop.FINISHED: 102.0 - 3600}, response=ok()))
    [last] = buffer.take()
    assert last.hops is not None
    assert last.hops[CommandHop.STARTED] == 101.4 and last.hops[CommandHop.FINISHED] == 101.4
