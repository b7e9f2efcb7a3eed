"""The fan-out takes an agent's ``command.state`` progress only for its own requests to that agent: an enrolled
agent cannot move another agent's cloud command (or invent one) by reporting progress for it."""

from __future__ import annotations

from typing import Any

from edge.lms.commands import Fanout
from edge.lms.commands.progress import Progress
from edge.lms.commands.result_buffer import ResultBuffer
from shared.messages import CommandStatus
from shared.names import Namespace
from tests.fixtures.outbox import RecordingOutbox

Outbox = RecordingOutbox


class Router:
    """Only what the fan-out asks of the router when no command arrives: no request is pending."""

    def pending(self, _request_id: str) -> None:
        return None

    def fail_pending(self, *_args: Any, **_kw: Any) -> int:
        return 0


def test_progress_counts_only_for_the_agent_the_request_went_to() -> None:
    outbox = Outbox()
    fanout = Fanout(Router(), outbox, namespace=Namespace("t", "dev"), site_id="s1",  # type: ignore[arg-type]
                    buffer=ResultBuffer(hold_s=0.0, terminal_delay_s=0.0))
    fanout.start()
    try:
        fanout.on_progress(Progress("l1-1", "pc-2", "running", 5.0))  # nothing this LMS sent: ignored
        fanout._remember_request("l1-1", "cmd-1", "pc-1")  # what dispatching a cloud command records
        fanout.on_progress(Progress("l1-1", "pc-2", "running", 5.0))  # another agent's request: ignored
        fanout.on_progress(Progress("l1-1", "pc-1", "running", 6.0))
        with outbox.cond:
            assert outbox.cond.wait_for(lambda: outbox.messages, 5.0)
    finally:
        fanout.stop()
    results = [r for m in outbox.messages for r in m.results]
    assert [(r.request_id, r.agent_id, r.status) for r in results] == [("cmd-1", "pc-1", CommandStatus.RUNNING)]
    assert results[0].hops == {"started": 6.0}
