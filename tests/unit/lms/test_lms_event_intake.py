"""The LMS's intake of agent events under an LMS crash (issue 17): the site broker's acknowledgement of an event is
sent only once the event is written (a kill -9 before that leaves it with the broker), at once for what is not
written; and a repeat the broker delivers after a restart is dropped, since the newest stored events are
remembered at start."""

from __future__ import annotations

import threading
import time

from edge.lms.events import AgentEvents
from edge.lms.store import Store
from shared.messages import Event, Severity
from shared.names import Namespace


def events_of(store: Store) -> AgentEvents:
    return AgentEvents(store, namespace=Namespace("demo", "dev"), site_id="s1")


def note(at: float, kind: str = "agent.note") -> Event:
    return Event(timestamp=at, kind=kind, severity=Severity.INFO, data={"request_id": "r1", "status": "running"})


def stored(store: Store) -> list[tuple[str, float]]:
    rows = store.select("SELECT kind, timestamp FROM events ORDER BY id", [], ("kind", "timestamp"))
    return [(r["kind"], r["timestamp"]) for r in rows]


def test_an_event_is_acknowledged_once_written_and_progress_at_once(store: Store) -> None:
    events = events_of(store)  # not started: nothing is written yet
    acked: list[str] = []
    events.add("agent-1", note(1.0))
    events.ack_after_write(lambda: acked.append("note"))
    events.add("agent-1", note(2.0, "command.state"))  # not written: progress lives in memory
    events.ack_after_write(lambda: acked.append("progress"))
    events.ack_after_write(lambda: acked.append("dropped before add"))  # a bad event the registry dropped
    assert acked == ["progress", "dropped before add"] and stored(store) == []
    events.start()
    try:
        assert events.flush(5)
        assert acked[-1] == "note" and stored(store) == [("agent.note", 1.0)]
    finally:
        events.stop()


def test_many_held_acknowledgements_start_the_writers_round_at_once(store: Store) -> None:
    events = events_of(store).start()
    done = threading.Event()
    count = [0]

    def ack() -> None:
        count[0] += 1
        if count[0] == 32:
            done.set()

    try:
        for n in range(32):
            events.add("agent-1", note(float(n)))
            events.ack_after_write(ack)
        assert done.wait(5) and len(stored(store)) == 32
    finally:
        events.stop()


def test_a_repeat_delivered_after_a_restart_is_not_stored_twice(store: Store) -> None:
    t = time.time()
    first = events_of(store).start()
    first.add("agent-1", note(t + 1))
    first.add("agent-1", note(t + 2))
    assert first.flush(5)
    first.stop()  # (killed before the acknowledgements reached the broker: it delivers both again)
    again = events_of(store).start()
    try:
        again.add("agent-1", note(t + 2))
        again.add("agent-1", note(t + 1))
        again.add("agent-1", note(t + 3))
        assert again.flush(5)
        assert stored(store) == [("agent.note", t + 1), ("agent.note", t + 2), ("agent.note", t + 3)]
        assert again.stats.duplicates == 2
    finally:
        again.stop()
