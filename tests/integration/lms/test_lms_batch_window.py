"""A batch's command is checked and encoded once (``Router.prepare``) and its agents' commands leave together
(``Router.corked``): against a real Mosquitto, every agent still gets, byte for byte, the ``Command`` that
``Router.dispatch`` would have sent it, and every target the answer ``dispatch`` would have given (offline, unknown,
an id that is no agent id, params every agent refuses, a site policy changed in the middle of a batch)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from edge.lms.agents import Registry
from edge.lms.commands import CommandLog, Router
from edge.lms.commands.batch_window import BatchWindow
from edge.lms.commands.ticket import Ticket
from edge.lms.store import Store
from shared import topics
from shared.commands import validate_params
from shared.errors import ErrorCode
from shared.messages import Command, Presence, Response, Status, decode, encode
from shared.mqtt import IncomingMessage, MqttClient, MqttSettings
from shared.topics import AgentUp
from tests.fixtures.brokers import SITE_LMS_USER, Broker, MqttProbe, site_broker  # noqa: F401 (fixture)
from tests.integration.lms.lms_harness import eventually

pytestmark = pytest.mark.integration

ONLINE = ("agent-1", "agent-2")
#: the targets of every batch here: two online agents, one offline, one nobody knows, one no agent id at all
TARGETS = [*ONLINE, "agent-3", "nobody", "bad id!"]
#: a value that holds what the splice looks for (the request id field) and JSON that must stay escaped
TRICKY = {"key": "note", "value": '"request_id":"x","command":"exec"} \\u0000 "'}


@dataclass
class Site:
    router: Router
    agents: dict[str, MqttProbe]
    received: dict[str, list[bytes]]


def answering(probe: MqttProbe, agent_id: str, received: list[bytes]) -> None:
    """The probe answers every ``Command`` with a success, as an agent would."""

    def on_message(client: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        received.append(bytes(msg.payload))
        command = decode(Command, bytes(msg.payload))
        reply = Response.ok(command.request_id, {"agent": agent_id})
        client.publish(topics.agent_up(agent_id, AgentUp.RESPONSE), encode(reply), qos=1)

    probe.client.on_message = on_message


@pytest.fixture
def site(site_broker: Broker, tmp_path: Path) -> Iterator[Site]:  # noqa: F811 (the fixture)
    store = Store(tmp_path / "lms.db").open()
    registry = Registry(store, presence_timeout_s=60)
    for agent_id, state in (*((a, Presence.ONLINE) for a in ONLINE), ("agent-3", Presence.OFFLINE)):
        status = Status(state=state, timestamp=1.0, reason="start" if state is Presence.ONLINE else "stop")
        registry.handle(IncomingMessage(topics.agent_up(agent_id, AgentUp.STATUS), encode(status), 1, True))
    journal = CommandLog(store).start()
    client = MqttClient(MqttSettings.model_validate({
        "host": site_broker.host, "port": site_broker.port, "client_id": "lms-batch-test", "username": SITE_LMS_USER,
        "password": site_broker.passwords[SITE_LMS_USER],
    }))  # fmt: skip
    router = Router(client, registry, journal, default_timeout_s=5)
    router.attach()
    client.start()
    router.start()
    received: dict[str, list[bytes]] = {a: [] for a in ONLINE}
    agents = {}
    for agent_id in ONLINE:
        agents[agent_id] = probe = site_broker.client(agent_id)
        answering(probe, agent_id, received[agent_id])
        probe.subscribe(topics.agent_down(agent_id))
    try:
        yield Site(router, agents, received)
    finally:
        router.stop()
        client.stop()
        journal.stop()
        store.close()


def run_batch(router: Router, command: str, params: dict[str, Any], concurrency: int) -> dict[str, Ticket]:
    async def run() -> dict[str, Ticket]:
        window = BatchWindow(router, TARGETS, command, params, 5.0, concurrency, asyncio.get_running_loop())
        return await window.run()

    return asyncio.run(asyncio.wait_for(run(), 30))


def outcome(response: Response) -> tuple[bool, ErrorCode | None, str]:
    """A response without its request id (each request has its own)."""
    return response.success, response.error_code, (response.error or "").replace(response.request_id, "<id>")


@pytest.mark.parametrize("concurrency", [1, 1000])
def test_each_agent_gets_the_command_dispatch_would_send_and_each_target_its_answer(
    site: Site, concurrency: int
) -> None:
    tickets = run_batch(site.router, "set_setting", TRICKY, concurrency)

    assert set(tickets) == set(TARGETS)
    clean = validate_params("set_setting", TRICKY).model_dump(mode="json", exclude_unset=True)
    for agent_id in ONLINE:
        ticket = tickets[agent_id]
        assert ticket.result(10).success and ticket.delivered and ticket.answered
        expected = encode(Command(request_id=ticket.request_id, command="set_setting", params=clean, timeout_s=5.0))
        assert site.received[agent_id] == [expected]  # byte for byte, once
        assert ticket.params == clean
    # the others: what one dispatch of the same command to each says, nothing sent
    for agent_id in ("agent-3", "nobody", "bad id!"):
        alone = site.router.dispatch(agent_id, "set_setting", TRICKY, 5.0, source="batch").result(10)
        assert outcome(tickets[agent_id].result(10)) == outcome(alone), agent_id
        assert not tickets[agent_id].delivered
    assert tickets["agent-3"].result().error_code is ErrorCode.AGENT_OFFLINE
    assert tickets["nobody"].result().error_code is ErrorCode.UNKNOWN_AGENT
    assert tickets["bad id!"].result().error_code is ErrorCode.UNKNOWN_AGENT
    assert len({t.request_id for t in tickets.values()}) == len(TARGETS)  # each request its own id


@pytest.mark.parametrize(
    ("command", "params", "policy", "code"),
    [
        ("set_setting", {"key": "note"}, "allow", ErrorCode.INVALID_PARAMS),  # no value
        ("no_such_command", {}, "allow", None),  # per target: unknown agent, or unknown command
        ("exec", {"argv": ["true"]}, "disabled", ErrorCode.REJECTED_BY_POLICY),
        ("rotate_broker_password", {"password": "x" * 24}, "allow", ErrorCode.FORBIDDEN),  # the LMS's own only
    ],
)
def test_a_command_refused_whoever_the_agent_is_answered_per_target_as_dispatch_answers(
    site: Site, command: str, params: dict[str, Any], policy: str, code: ErrorCode | None
) -> None:
    site.router.exec_policy = policy
    assert site.router.prepare(command, params, 5.0, source="batch") is None  # nothing to encode once

    tickets = run_batch(site.router, command, params, 1000)

    for agent_id in TARGETS:
        got = tickets[agent_id].result(10)
        alone = site.router.dispatch(agent_id, command, params, 5.0, source="batch").result(10)
        assert not got.success and outcome(got) == outcome(alone), agent_id
        if code is not None:
            assert got.error_code is code, agent_id
    assert site.received == {a: [] for a in ONLINE}  # nothing reached an agent


def test_a_policy_changed_after_the_check_applies_to_the_agents_left(site: Site) -> None:
    prepared = site.router.prepare("exec", {"argv": ["true"]}, 5.0, source="batch")
    assert prepared is not None
    site.router.exec_policy = "disabled"

    refused = site.router.dispatch_prepared("agent-1", prepared).result(10)

    assert refused.error_code is ErrorCode.REJECTED_BY_POLICY
    assert site.received["agent-1"] == []


def test_commands_held_back_leave_in_one_write(site: Site) -> None:
    """Dispatched inside ``Router.corked`` (as the window does, a chunk at a time), 100 commands leave in one
    ``send`` (the socket takes them all at once), not one each; every one arrives, whole."""
    for agent_id in ONLINE:  # agents that only listen: no answers (and no PUBACKs of answers) meanwhile
        site.agents[agent_id].client.on_message = lambda _c, _u, m, got=site.received[agent_id]: got.append(m.payload)
    prepared = site.router.prepare("ping", {}, 5.0, source="batch")
    assert prepared is not None
    client = site.router._client._client  # the paho client underneath
    before_sends, before_packets = client.sends, client.direct_writes

    with site.router.corked():
        tickets = [site.router.dispatch_prepared(ONLINE[i % 2], prepared) for i in range(100)]
        assert client.direct_writes == before_packets  # held back until the block ends

    assert client.direct_writes - before_packets == 100
    assert client.sends - before_sends < 10  # one, unless the network thread wrote something of its own meanwhile
    expected = {a: [prepared.payload(t.request_id) for t in tickets if t.agent_id == a] for a in ONLINE}
    for agent_id in ONLINE:

        def all_50(a: str = agent_id) -> bool:
            return len(site.received[a]) >= 50

        eventually(all_50, what=f"{agent_id}'s 50 commands")
        assert site.received[agent_id] == expected[agent_id]  # each once, whole, in order
