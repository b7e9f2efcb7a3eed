"""The router's transport abstraction: commands to agents of another ``kind`` go through that kind's
transport, with the router's validation order, presence checks, correlation and deadlines."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.lms.agents import Registry
from edge.lms.commands import CommandLog, Router, Ticket
from edge.lms.store import Store
from shared.errors import ErrorCode
from shared.messages import Response


class FakeTransport:
    def __init__(self) -> None:
        self.sent: list[Ticket] = []
        self.refuse: str | None = None

    def validate(self, ticket: Ticket) -> Response | None:
        if ticket.command == "forbidden_here":
            return Response.fail(ticket.request_id, ErrorCode.UNKNOWN_COMMAND, "not on this kind")
        return None

    def send(self, ticket: Ticket) -> str | None:
        if self.refuse is not None:
            return self.refuse
        self.sent.append(ticket)
        return None


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[tuple[Router, Registry, FakeTransport]]:
    with Store(tmp_path / "lms.db") as store:
        journal = CommandLog(store).start()
        registry = Registry(store, presence_timeout_s=60)
        router = Router(None, registry, journal, default_timeout_s=5)  # type: ignore[arg-type]  # no MQTT used
        router.start()
        transport = FakeTransport()
        router.add_transport("legacy", transport)
        registry.connected("client-1", kind="legacy", ip_address="10.0.0.5")
        try:
            yield router, registry, transport
        finally:
            router.stop()
            journal.stop()


def test_command_goes_through_the_transport_and_its_answer_completes_it(
    parts: tuple[Router, Registry, FakeTransport],
) -> None:
    router, registry, transport = parts
    view = registry.get("client-1")
    assert view is not None and view.kind == "legacy" and view.online and view.ip_address == "10.0.0.5"
    ticket = router.dispatch("client-1", "camera_get_status", {"x": 1})
    assert transport.sent == [ticket] and ticket.delivered and not ticket.future.done()
    assert router.complete("other-agent", Response.ok(ticket.request_id, {})) is False  # not its command
    assert router.complete("client-1", Response.ok(ticket.request_id, {"recording": False})) is True
    assert ticket.result(5).data == {"recording": False} and ticket.answered


def test_refusals_end_at_once(parts: tuple[Router, Registry, FakeTransport]) -> None:
    router, registry, transport = parts
    assert router.dispatch("client-1", "forbidden_here").result(5).error_code is ErrorCode.UNKNOWN_COMMAND
    transport.refuse = "not connected"
    refused = router.dispatch("client-1", "camera_get_status").result(5)
    assert refused.error_code is ErrorCode.AGENT_OFFLINE and refused.error == "not connected"
    registry.disconnected("client-1")
    assert router.dispatch("client-1", "camera_get_status").result(5).error_code is ErrorCode.AGENT_OFFLINE
    assert transport.sent == [] and router.pending_count == 0


def test_unanswered_commands_time_out_or_end_with_the_connection(
    parts: tuple[Router, Registry, FakeTransport],
) -> None:
    router, _registry, _transport = parts
    timed_out = router.dispatch("client-1", "camera_get_status", timeout_s=0.05).result(10)
    assert timed_out.error_code is ErrorCode.TIMEOUT
    pending: list[Any] = [router.dispatch("client-1", "camera_get_status") for _ in range(3)]
    assert router.fail_agent("client-1", ErrorCode.AGENT_OFFLINE, "gone") == 3
    assert all(t.result(5).error == "gone" for t in pending)


def test_mqtt_agents_are_not_affected(parts: tuple[Router, Registry, FakeTransport]) -> None:
    router, _registry, transport = parts
    unknown = router.dispatch("agent-9", "ping").result(5)
    assert unknown.error_code is ErrorCode.UNKNOWN_AGENT and transport.sent == []
