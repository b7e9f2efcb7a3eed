"""Hostile agent events at the LMS (issue 17, defence in depth): the cloud-bound events writer isolates a bad item
(an event that cannot be encoded, built around validation as an older LMS stored it, is left out with a log line;
the others of its batch go), and a stored row no answer could carry reads as no data."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from edge.lms.cloud.event_forwarding import MAX_MESSAGE_BYTES, EventForwarder, site_event_messages
from shared.messages import Event, Severity, SiteEvents, decode
from shared.names import Namespace


def deep(levels: int) -> Any:
    value: Any = 0
    for _ in range(levels):
        value = {"x": value}
    return value


def good(kind: str) -> Event:
    return Event(timestamp=1.0, kind=kind, severity=Severity.WARNING)


def bad() -> Event:
    return Event.model_construct(timestamp=1.0, kind="disk.deep", severity=Severity.WARNING, message="", v=1,
                                 type="event", data=deep(300))  # fmt: skip


class Sink:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    def put(self, topic: str, message: Any) -> int:
        self.messages.append(message.model_dump_json().encode())
        return len(self.messages)


def test_one_bad_event_never_costs_the_others(caplog: pytest.LogCaptureFixture) -> None:
    messages = site_event_messages([("a1", good("disk.one")), ("a1", bad()), ("a2", good("disk.two"))])
    assert [(e.agent_id, e.event.kind) for m in messages for e in m.events] == [("a1", "disk.one"), ("a2", "disk.two")]
    assert "not forwarding a1's disk.deep event" in caplog.text

    sink = Sink()
    forwarder = EventForwarder(Namespace("demo", "dev"), "s1", outbox=sink)
    forwarder.forward(sink, [("a1", bad()), ("a1", good("disk.three"))])
    assert [e.event.kind for p in sink.messages for e in decode(SiteEvents, p).events] == ["disk.three"]


def test_an_event_too_big_for_a_site_message_goes_with_a_marker() -> None:
    big = Event(timestamp=1.0, kind="disk.big", severity=Severity.WARNING, data={"blob": "x" * MAX_MESSAGE_BYTES})
    messages = site_event_messages([("a1", big), ("a1", good("disk.after"))])
    events = [e.event for m in messages for e in m.events]
    assert [e.kind for e in events] == ["disk.big", "disk.after"]
    assert events[0].data["truncated"] is True and events[0].data["bytes"] > MAX_MESSAGE_BYTES


def test_a_row_an_older_lms_stored_reads_as_no_data() -> None:
    """What an LMS stored before intake refused it (data 300 levels deep, NaN) reads back as ``None``: the page
    that lists it answers instead of failing for good."""
    from edge.lms.store.records import json_or_none

    assert json_or_none('{"a": [1, 2.5, "x"]}') == {"a": [1, 2.5, "x"]}
    assert json_or_none('{"x":' * 300 + "0" + "}" * 300) is None
    assert json_or_none('{"load": [NaN, 0, 0]}') is None
    assert json_or_none("not json") is None and json_or_none(None) is None


class FullDisk(Sink):
    """An outbox whose database refuses writes until ``full`` is cleared."""

    def __init__(self) -> None:
        super().__init__()
        self.full = True

    def put(self, topic: str, message: Any) -> int:
        if self.full:
            raise sqlite3.OperationalError("database or disk is full")
        return super().put(topic, message)


def test_events_the_outbox_refused_are_held_and_go_first_once_it_takes_them(caplog: pytest.LogCaptureFixture) -> None:
    sink = FullDisk()
    forwarder = EventForwarder(Namespace("demo", "dev"), "s1", outbox=sink)
    forwarder.forward(sink, [("a1", good("disk.one")), ("a1", good("disk.two"))])
    forwarder.forward(sink, [("a1", good("disk.three"))])  # after those waiting, not before
    assert forwarder.held == 3 and sink.messages == []
    assert caplog.text.count("the outbox refused") == 1
    sink.full = False
    forwarder.send_held(sink)
    forwarder.forward(sink, [("a1", good("disk.four"))])
    kinds = [e.event.kind for p in sink.messages for e in decode(SiteEvents, p).events]
    assert kinds == ["disk.one", "disk.two", "disk.three", "disk.four"] and forwarder.held == 0
