"""Agents' settings from device shadows: the test plays IoT Core's shadow service on the stand-in broker
(publishes ``update/delta`` and answers ``get`` with ``get/accepted``); the LMS applies deltas to online
agents, reports what they took, and catches up with ``get`` on connect and when an agent comes online."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from edge.lms.cloud.shadow_sync import MAX_RETRIES
from infra.local.shadow_documents import ShadowDocuments
from infra.local.shadows import ShadowService
from shared import topics
from shared.errors import ErrorCode
from shared.messages import Command, Presence, Response, Status, encode
from shared.messages.shadow import desired_update
from shared.mqtt import MqttClient, MqttSettings
from shared.topics import AgentUp, ShadowOp
from tests.fixtures.brokers import Broker, MqttProbe
from tests.integration.lms.lms_harness import (
    NS,
    SITE,
    AgentFactory,
    LmsFactory,
    SimAgent,
    eventually,
    settings_responder,
    silent_responder,
    start_with_cloud,
)

pytestmark = pytest.mark.integration

THING = topics.site_thing_name(NS, SITE)
SHADOWS = topics.shadow_filter(THING)


def shadow_topic(agent_id: str, op: ShadowOp) -> str:
    return topics.shadow(THING, op, topics.agent_shadow_name(agent_id))


def delta(settings: dict[str, Any], version: int = 1) -> bytes:
    return json.dumps({"version": version, "timestamp": 1_700_000_000, "state": settings}).encode()


def reported(probe: MqttProbe, agent_id: str) -> list[dict[str, Any]]:
    """The ``state.reported`` of every update the LMS published for the agent's shadow, in order (the cloud's
    ``desired`` updates left out)."""
    topic = shadow_topic(agent_id, ShadowOp.UPDATE)
    states = [json.loads(m.payload)["state"] for m in list(probe.messages) if m.topic == topic]
    return [state["reported"] for state in states if "reported" in state]


def wait_reported(probe: MqttProbe, agent_id: str, expected: dict[str, str]) -> None:
    eventually(lambda: expected in reported(probe, agent_id), what=f"reported {expected} for {agent_id}")


def gets(probe: MqttProbe, agent_id: str) -> int:
    topic = shadow_topic(agent_id, ShadowOp.GET)
    return sum(1 for m in list(probe.messages) if m.topic == topic)


def batches(agent: SimAgent) -> list[dict[str, str]]:
    return [c.params["settings"] for c in list(agent.commands) if c.command == "update_settings_batch"]


def test_delta_is_applied_to_an_online_agent_and_reported(
    lms_factory: LmsFactory, agents: AgentFactory, cloud_broker: Broker
) -> None:
    cloud, lms = start_with_cloud(lms_factory, cloud_broker, SHADOWS)
    a1 = agents("agent-1").start()
    lms.wait_agent("agent-1")

    cloud.publish(shadow_topic("agent-1", ShadowOp.UPDATE_DELTA), delta({"font_size": 18, "theme_mode": "light"}))

    wait_reported(cloud, "agent-1", {"font_size": "18", "theme_mode": "light"})
    assert batches(a1) == [{"font_size": "18", "theme_mode": "light"}]
    assert a1.settings == {"font_size": "18", "theme_mode": "light"}
    assert reported(cloud, "agent-1") == [{"font_size": "18", "theme_mode": "light"}]


def test_offline_agent_catches_up_with_get_when_it_comes_back(
    lms_factory: LmsFactory, agents: AgentFactory, cloud_broker: Broker
) -> None:
    cloud, lms = start_with_cloud(lms_factory, cloud_broker, SHADOWS)
    agents("agent-1").start()
    a2 = agents("agent-2").start()
    lms.wait_agents("agent-1", "agent-2")
    # The link connected before any agent was known: the one get for agent-2 is the one of its coming online.
    eventually(lambda: gets(cloud, "agent-2") == 1, what="first get for agent-2")
    a2.stop()
    lms.wait_agent("agent-2", "offline")

    cloud.publish(shadow_topic("agent-2", ShadowOp.UPDATE_DELTA), delta({"font_size": 22}, version=2))
    # The LMS handles shadow messages in order: once agent-1's later delta is reported, agent-2's was seen.
    cloud.publish(shadow_topic("agent-1", ShadowOp.UPDATE_DELTA), delta({"font_size": 16}))
    wait_reported(cloud, "agent-1", {"font_size": "16"})
    assert reported(cloud, "agent-2") == []

    a2 = agents("agent-2").start()
    eventually(lambda: gets(cloud, "agent-2") == 2, what="get for agent-2 when it came back")
    document = {
        "state": {"desired": {"font_size": "22"}, "reported": {"font_size": "14"}, "delta": {"font_size": "22"}},
        "metadata": {"desired": {"font_size": {"timestamp": 1}}},
        "version": 2,
        "timestamp": 1_700_000_001,
    }
    cloud.publish(shadow_topic("agent-2", ShadowOp.GET_ACCEPTED), json.dumps(document))

    wait_reported(cloud, "agent-2", {"font_size": "22"})
    assert batches(a2) == [{"font_size": "22"}]
    assert a2.settings["font_size"] == "22"


def test_get_for_each_agent_at_start_and_nothing_desired_is_fine(
    lms_factory: LmsFactory, agents: AgentFactory, cloud_broker: Broker
) -> None:
    agents("agent-1").start()
    agents("agent-2").start()
    cloud, lms = start_with_cloud(lms_factory, cloud_broker, SHADOWS)
    lms.wait_agents("agent-1", "agent-2")

    for agent_id in ("agent-1", "agent-2"):

        def asked(a: str = agent_id) -> bool:
            return gets(cloud, a) >= 1

        eventually(asked, what=f"get for {agent_id}")
        get = next(m for m in cloud.messages if m.topic == shadow_topic(agent_id, ShadowOp.GET))
        assert json.loads(get.payload) == {}
    # No shadow yet (404), and a shadow without a delta: nothing to apply, nothing reported.
    cloud.publish(shadow_topic("agent-1", ShadowOp.GET_REJECTED), json.dumps({"code": 404, "message": "No shadow"}))
    cloud.publish(shadow_topic("agent-2", ShadowOp.GET_ACCEPTED),
                  json.dumps({"state": {"desired": {"a": "1"}, "reported": {"a": "1"}}, "version": 4}))
    cloud.publish(shadow_topic("agent-1", ShadowOp.UPDATE_DELTA), delta({"font_size": 30}))
    wait_reported(cloud, "agent-1", {"font_size": "30"})
    assert reported(cloud, "agent-2") == []


def test_bad_documents_are_dropped_and_refusals_not_reported(
    lms_factory: LmsFactory, agents: AgentFactory, cloud_broker: Broker
) -> None:
    def refuse(agent: SimAgent, cmd: Command) -> Response | None:
        if cmd.command == "update_settings_batch":
            return Response.fail(cmd.request_id, ErrorCode.INVALID_PARAMS, "settings are read-only here")
        return settings_responder(agent, cmd)

    cloud, lms = start_with_cloud(lms_factory, cloud_broker, SHADOWS)
    a1 = agents("agent-1", responder=refuse).start()
    lms.wait_agent("agent-1")
    topic = shadow_topic("agent-1", ShadowOp.UPDATE_DELTA)

    cloud.publish(topic, b"{not json")
    cloud.publish(topic, delta({"bad key!": "x"}))
    cloud.publish(topic, json.dumps({"state": {"font_size": "1"}}))  # no version
    cloud.publish(shadow_topic("agent-1", ShadowOp.GET_ACCEPTED), b"[]")
    cloud.publish(topics.shadow(THING, ShadowOp.UPDATE_DELTA, "lms:config"), delta({"font_size": 1}))  # not an agent
    cloud.publish(shadow_topic("agent-9", ShadowOp.UPDATE_DELTA), delta({"font_size": 1}))  # unknown agent

    cloud.publish(topic, delta({"theme_mode": "blue"}))
    eventually(lambda: {"theme_mode": "blue"} in batches(a1), what="refused batch")
    a1.responder = settings_responder
    cloud.publish(topic, delta({"font_size": 19}))

    wait_reported(cloud, "agent-1", {"font_size": "19"})
    assert batches(a1) == [{"theme_mode": "blue"}, {"font_size": "19"}]
    assert reported(cloud, "agent-1") == [{"font_size": "19"}]
    assert reported(cloud, "agent-9") == []
    log = lms.log()
    assert log.count("shadows: dropped bad document") == 4
    assert "did not take ['theme_mode']" in log
    assert lms.health()["site_broker"]["connected"]


def test_rejected_shadow_requests_are_asked_again_or_reported_in_the_log(
    lms_factory: LmsFactory, agents: AgentFactory, cloud_broker: Broker
) -> None:
    """Issue 11 item 13: IoT Core's ``update/rejected`` is not ignored. A throttled or failed report (429, 5xx)
    is asked again with a catch-up ``get`` (whose delta is applied and reported again); a refusal for good
    (400, 413) is a warning in the log and no retry."""
    cloud, lms = start_with_cloud(lms_factory, cloud_broker, SHADOWS)
    a1 = agents("agent-1").start()
    agents("agent-2").start()
    lms.wait_agents("agent-1", "agent-2")
    eventually(lambda: gets(cloud, "agent-1") == 1 and gets(cloud, "agent-2") == 1, what="the first gets")
    cloud.publish(shadow_topic("agent-1", ShadowOp.UPDATE_DELTA), delta({"font_size": 18}))
    wait_reported(cloud, "agent-1", {"font_size": "18"})

    # the report was throttled: the LMS asks again, applies the pending delta again and reports again
    cloud.publish(shadow_topic("agent-1", ShadowOp.UPDATE_REJECTED),
                  json.dumps({"code": 429, "message": "Rate limit exceeded", "timestamp": 1}))
    eventually(lambda: gets(cloud, "agent-1") == 2, what="a get after the throttled report")
    document = {"state": {"desired": {"font_size": "18"}, "delta": {"font_size": "18"}}, "version": 3}
    cloud.publish(shadow_topic("agent-1", ShadowOp.GET_ACCEPTED), json.dumps(document))
    eventually(lambda: reported(cloud, "agent-1").count({"font_size": "18"}) == 2, what="the report again")
    assert batches(a1) == [{"font_size": "18"}, {"font_size": "18"}]

    # refused for good: no retry (the shadow messages are handled in order: agent-2's get comes after)
    cloud.publish(shadow_topic("agent-1", ShadowOp.UPDATE_REJECTED),
                  json.dumps({"code": 413, "message": "The payload exceeds the maximum size allowed"}))
    cloud.publish(shadow_topic("agent-2", ShadowOp.GET_REJECTED), json.dumps({"code": 500, "message": "Internal"}))
    eventually(lambda: gets(cloud, "agent-2") == 2, what="a get after agent-2's failed get")
    assert gets(cloud, "agent-1") == 2
    eventually(lambda: "refused the update of agent-1's shadow for good: 413" in lms.log(), what="the warning")



def test_link_reconnect_catches_up_every_online_agent(
    lms_factory: LmsFactory, agents: AgentFactory, cloud_broker: Broker
) -> None:
    cloud, lms = start_with_cloud(lms_factory, cloud_broker, SHADOWS)
    a1 = agents("agent-1").start()
    lms.wait_agent("agent-1")
    eventually(lambda: gets(cloud, "agent-1") == 1, what="get for agent-1 when it came online")

    # A client taking over the LMS's client id knocks its link off; the link reconnects by itself.
    impostor = cloud_broker.client(client_id=THING)  # the LMS's client id is its thing name
    impostor.close()
    eventually(lambda: gets(cloud, "agent-1") == 2, what="get for agent-1 after the reconnect")
    assert gets(cloud, "agent-2") == 0  # never seen by this LMS

    document = {"state": {"desired": {"theme_mode": "auto"}, "delta": {"theme_mode": "auto"}}, "version": 7}
    cloud.publish(shadow_topic("agent-1", ShadowOp.GET_ACCEPTED), json.dumps(document))
    wait_reported(cloud, "agent-1", {"theme_mode": "auto"})
    assert batches(a1) == [{"theme_mode": "auto"}]


@pytest.fixture
def shadow_service(cloud_broker: Broker) -> Iterator[ShadowDocuments]:
    """The twin's Device Shadow service (infra/local/shadows.py) answering on the IoT Core stand-in broker: the
    LMS's gets and reports are answered and applied as AWS would; a desired update raises ``update/delta``."""
    client = MqttClient(MqttSettings(host=cloud_broker.host, port=cloud_broker.port, client_id="local-cloud"))
    service = ShadowService(ShadowDocuments(), client)
    service.start()
    client.start(wait_s=10.0)
    try:
        yield service.documents
    finally:
        service.stop()
        client.stop()


def test_a_batch_lost_before_the_agent_resubscribed_is_retried(
    lms_factory: LmsFactory, agents: AgentFactory, site_broker: Broker, cloud_broker: Broker,
    shadow_service: ShadowDocuments,
) -> None:  # fmt: skip
    """Issue 17: after a site broker restart the agent (clean session) is online at the LMS before it subscribed to
    its commands again; a settings batch sent then is lost. The LMS asks the shadow again and applies it."""
    cloud, lms = start_with_cloud(lms_factory, cloud_broker, SHADOWS)
    spy = site_broker.client("lms", client_id="spy")  # sees what the broker routes to the agent
    spy.subscribe(topics.agent_down("agent-1"))
    early = site_broker.client("agent-1", client_id="agent-1")  # connected, not yet subscribed
    online = Status(state=Presence.ONLINE, timestamp=time.time(), reason="start")
    early.publish(topics.agent_up("agent-1", AgentUp.STATUS), encode(online), retain=True)
    lms.wait_agent("agent-1")
    eventually(lambda: gets(cloud, "agent-1") == 1, what="the first get")

    cloud.publish(shadow_topic("agent-1", ShadowOp.UPDATE), desired_update({"font_size": "22"}))
    spy.wait_for(topics.agent_down("agent-1"))  # the batch went through the broker to no subscriber: lost
    early.close()
    a1 = agents("agent-1").start()  # subscribed now; its presence did not change (no catch-up for it)

    wait_reported(cloud, "agent-1", {"font_size": "22"})
    assert batches(a1) == [{"font_size": "22"}]
    assert a1.settings["font_size"] == "22"
    assert "did not take ['font_size']" in lms.log()


def test_retries_of_an_agent_that_never_answers_stop_and_its_return_resumes_them(
    lms_factory: LmsFactory, agents: AgentFactory, cloud_broker: Broker, shadow_service: ShadowDocuments
) -> None:
    """The retries are bounded (``MAX_RETRIES`` per agent): an agent that takes no command is sent the newest
    delta 1 + MAX_RETRIES times, then nothing more until it comes online again."""
    cloud = cloud_broker.client()
    cloud.subscribe(SHADOWS)
    # the simulated agent sends no heartbeats: a long presence timeout keeps it online while it stays silent
    lms = lms_factory(cloud_broker.port, settings={"command_timeout_s": 0.3, "presence_timeout_s": 300}).start()
    a1 = agents("agent-1", responder=silent_responder).start()
    lms.wait_agent("agent-1")
    eventually(lambda: gets(cloud, "agent-1") == 1, what="the first get")

    cloud.publish(shadow_topic("agent-1", ShadowOp.UPDATE), desired_update({"font_size": "20"}))
    cloud.publish(shadow_topic("agent-1", ShadowOp.UPDATE), desired_update({"font_size": "22"}))
    eventually(lambda: "keeps failing; waiting for the next catch-up" in lms.log(), timeout=60.0,
               what="the retries to end")  # fmt: skip
    assert batches(a1)[-(MAX_RETRIES + 1) :] == [{"font_size": "22"}] * (MAX_RETRIES + 1)
    assert len(batches(a1)) <= MAX_RETRIES + 2  # 20 (perhaps, before 22 came), 22, then MAX_RETRIES times 22
    assert reported(cloud, "agent-1") == []

    a1.stop()
    lms.wait_agent("agent-1", "offline")
    a1 = agents("agent-1").start()
    wait_reported(cloud, "agent-1", {"font_size": "22"})
    assert batches(a1) == [{"font_size": "22"}]
