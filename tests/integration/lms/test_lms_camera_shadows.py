"""Agents' cameras set in the cloud, relayed by the LMS from their ``cctv:`` shadows: the test plays IoT Core's
shadow service on the stand-in broker; the LMS sends the whole desired set to the (simulated) agent as
``cctv_apply_config`` and reports its answer per camera. Stale revisions and reported-only updates change nothing;
an agent without camera support has every camera reported rejected; nobody on site can send the command."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared import topics
from shared.errors import ErrorCode
from shared.messages import Command, Response
from shared.topics import ShadowOp
from tests.fixtures.brokers import Broker, MqttProbe
from tests.integration.lms.lms_harness import (
    NS,
    SITE,
    AgentFactory,
    LmsFactory,
    LmsProcess,
    SimAgent,
    eventually,
    settings_responder,
)

pytestmark = pytest.mark.integration

THING = topics.site_thing_name(NS, SITE)
DOOR = {"camera_id": "door", "source": "synthetic:moving", "width": 160, "height": 120}
ODD = {"camera_id": "odd", "source": "synthetic:moving", "width": 161, "height": 120}


def topic(agent_id: str, op: ShadowOp) -> str:
    return topics.shadow(THING, op, topics.cctv_shadow_name(agent_id))


def desired(rev: int, *cameras: dict[str, Any]) -> dict[str, Any]:
    return {"v": 1, "rev": rev, "cameras": list(cameras)}


def document(rev: int, *cameras: dict[str, Any], reported: Any = None, version: int = 1) -> dict[str, Any]:
    state: dict[str, Any] = {"desired": desired(rev, *cameras)}
    if reported is not None:
        state["reported"] = reported
    return {"state": state, "version": version, "metadata": {}, "timestamp": 1_700_000_000}


def camera_responder(agent: SimAgent, cmd: Command) -> Response | None:
    """An agent that applies even-sized cameras and rejects the others."""
    if cmd.command != "cctv_apply_config":
        return settings_responder(agent, cmd)
    results = [{"camera_id": c["camera_id"], "status": "applied"} if c.get("width", 0) % 2 == 0 else
               {"camera_id": c["camera_id"], "status": "rejected", "reason": "bad resolution: must be even"}
               for c in cmd.params["cameras"]]
    return Response.ok(cmd.request_id, {"v": 1, "rev": cmd.params["rev"], "cameras": results})


def applies(agent: SimAgent) -> list[int]:
    return [c.params["rev"] for c in list(agent.commands) if c.command == "cctv_apply_config"]


def reported(probe: MqttProbe, agent_id: str) -> list[dict[str, Any]]:
    want = topic(agent_id, ShadowOp.UPDATE)
    return [json.loads(m.payload)["state"]["reported"] for m in list(probe.messages) if m.topic == want]


def start(lms_factory: LmsFactory, cloud_broker: Broker) -> tuple[MqttProbe, LmsProcess]:
    cloud = cloud_broker.client()
    cloud.subscribe(topics.shadow_filter(THING))
    return cloud, lms_factory(cloud_broker.port).start()


def test_desired_cameras_are_applied_and_reported_per_camera(
    lms_factory: LmsFactory, agents: AgentFactory, cloud_broker: Broker
) -> None:
    cloud, lms = start(lms_factory, cloud_broker)
    a1 = agents("agent-1", responder=camera_responder).start()
    lms.wait_agent("agent-1")
    # coming online: a catch-up get for both of the agent's shadows
    eventually(lambda: any(m.topic == topic("agent-1", ShadowOp.GET) for m in list(cloud.messages)),
               what="the get of agent-1's camera shadow")

    cloud.publish(topic("agent-1", ShadowOp.GET_ACCEPTED), json.dumps(document(1, DOOR)))
    eventually(lambda: reported(cloud, "agent-1"), what="the first report")
    assert reported(cloud, "agent-1") == [{"v": 1, "rev": 1, "cameras": [{"camera_id": "door", "status": "applied"}]}]
    assert a1.commands[-1].params == desired(1, DOOR) | {"v": 1}

    # a change of desired (update/documents): the whole new set goes to the agent
    change = {"previous": document(1, DOOR, version=2), "current": document(2, DOOR, ODD, version=3)}
    cloud.publish(topic("agent-1", ShadowOp.UPDATE_DOCUMENTS), json.dumps(change))
    eventually(lambda: len(reported(cloud, "agent-1")) == 2, what="the second report")
    assert reported(cloud, "agent-1")[1]["cameras"] == [
        {"camera_id": "door", "status": "applied"},
        {"camera_id": "odd", "status": "rejected", "reason": "bad resolution: must be even"}]

    # only reported changed (the LMS's own report echoed), then a stale get: neither reaches the agent
    echo = {"previous": document(2, DOOR, ODD, version=3),
            "current": document(2, DOOR, ODD, version=4, reported=reported(cloud, "agent-1")[1])}
    cloud.publish(topic("agent-1", ShadowOp.UPDATE_DOCUMENTS), json.dumps(echo))
    cloud.publish(topic("agent-1", ShadowOp.GET_ACCEPTED), json.dumps(document(1, DOOR)))
    # delta is not read for camera shadows (a removed camera is not in it)
    cloud.publish(topic("agent-1", ShadowOp.UPDATE_DELTA), json.dumps({"state": desired(7), "version": 9}))
    # the same revision again (e.g. the agent came back): applied again, but the unchanged report is not rewritten
    cloud.publish(topic("agent-1", ShadowOp.GET_ACCEPTED),
                  json.dumps(document(2, DOOR, ODD, reported=reported(cloud, "agent-1")[1], version=4)))
    eventually(lambda: applies(a1) == [1, 2, 2], what="the same revision applied again")
    assert len(reported(cloud, "agent-1")) == 2
    assert "revision 1 for agent-1 is older than revision 2" in lms.log()


def test_an_agent_without_cameras_has_every_camera_reported_rejected(
    lms_factory: LmsFactory, agents: AgentFactory, cloud_broker: Broker
) -> None:
    def no_cameras(agent: SimAgent, cmd: Command) -> Response | None:
        if cmd.command.startswith("cctv_"):
            return Response.fail(cmd.request_id, ErrorCode.NOT_SUPPORTED, "camera support is not enabled on this agent")
        return settings_responder(agent, cmd)

    cloud, lms = start(lms_factory, cloud_broker)
    agents("agent-1", responder=no_cameras).start()
    lms.wait_agent("agent-1")
    cloud.publish(topic("agent-1", ShadowOp.GET_ACCEPTED), json.dumps(document(3, DOOR, ODD)))
    eventually(lambda: reported(cloud, "agent-1"), what="the report")
    [report] = reported(cloud, "agent-1")
    assert report["rev"] == 3 and [c["status"] for c in report["cameras"]] == ["rejected", "rejected"]
    assert "camera support is not enabled" in report["cameras"][0]["reason"]


def test_bad_camera_documents_are_dropped_and_nobody_on_site_sends_the_command(
    lms_factory: LmsFactory, agents: AgentFactory, cloud_broker: Broker
) -> None:
    cloud, lms = start(lms_factory, cloud_broker)
    a1 = agents("agent-1", responder=camera_responder).start()
    lms.wait_agent("agent-1")
    get_accepted = topic("agent-1", ShadowOp.GET_ACCEPTED)
    cloud.publish(get_accepted, b"{not json")
    cloud.publish(get_accepted, json.dumps(document(1, {"source": 0})))  # no camera_id
    cloud.publish(get_accepted, json.dumps(document(1, DOOR, DOOR)))  # twice the same id
    cloud.publish(get_accepted, json.dumps({"state": {"desired": {"v": 1, "rev": 1, "cameras": [], "x": 1}}}))
    cloud.publish(topics.shadow(THING, ShadowOp.GET_ACCEPTED, "cctv:agent-9"), json.dumps(document(1, DOOR)))
    # a bad reported part never blocks what is desired
    cloud.publish(get_accepted, json.dumps(document(2, DOOR, reported={"rev": "x"})))
    eventually(lambda: reported(cloud, "agent-1"), what="the report of revision 2")
    assert applies(a1) == [2]
    assert lms.log().count("shadows: dropped bad document") == 4

    # on site, through the LMS's API: refused, never sent
    answer = lms.command("agent-1", "cctv_apply_config", desired(99, {**DOOR, "source": "/etc/passwd"}))
    assert answer.status_code == 403 and "device shadow" in answer.text, answer.text
    queued = lms.command("agent-1", "cctv_apply_config", desired(99), queue_if_offline=True)
    assert queued.status_code == 403, queued.text
    batch = lms.http.post("/api/commands/batch", json={"command": "cctv_apply_config", "params": desired(99),
                                                       "target": {"all": True}})
    assert batch.status_code == 403, batch.text
    assert applies(a1) == [2]
