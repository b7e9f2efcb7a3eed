"""The LMS's cloud link against the IoT Core stand-in (anonymous Mosquitto): batch commands, results, the
outbox across a cloud outage and an LMS restart, and site heartbeats."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.local.mosquitto import MosquittoProcess
from infra.local.ports import free_port
from shared import topics
from shared.errors import ErrorCode
from shared.messages import Command, CommandResults, Response, SiteCommand, SiteHeartbeat, decode, encode
from shared.topics import SiteUp
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

DOWN = topics.site_down(NS, SITE)
RESULTS = topics.site_up(NS, SITE, SiteUp.RESULTS)
HEARTBEAT = topics.site_up(NS, SITE, SiteUp.HEARTBEAT)


def results_in(probe: MqttProbe) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in list(probe.messages):
        if m.topic == RESULTS:
            out.extend(r.model_dump(mode="json") for r in decode(CommandResults, m.payload).results)
    return out


def wait_result(probe: MqttProbe, agent_id: str, status: str, timeout: float = 10.0) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        return next((r for r in results_in(probe) if r["agent_id"] == agent_id and r["status"] == status), None)

    found: dict[str, Any] = eventually(find, timeout, what=f"{status} result of {agent_id}")
    return found


def wait_succeeded(probe: MqttProbe, request_id: str) -> None:
    eventually(
        lambda: any(r["request_id"] == request_id and r["status"] == "succeeded" for r in results_in(probe)),
        what=f"{request_id} succeeded",
    )


def queued_results(db_path: Path) -> list[str]:
    """Request ids of the results waiting in the LMS's outbox (read beside the running LMS: WAL)."""
    with sqlite3.connect(db_path) as db:
        rows = db.execute("SELECT payload FROM outbox ORDER BY id").fetchall()
    return [r.request_id for (p,) in rows for r in decode(CommandResults, p).results]


def site_command(request_id: str, command: str, targets: list[str], **extra: Any) -> bytes:
    return encode(SiteCommand(request_id=request_id, command=command, targets=targets, **extra))


def test_site_command_fans_out_and_results_come_back(
    lms_factory: LmsFactory, agents: AgentFactory, cloud_broker: Broker
) -> None:
    cloud, lms = start_with_cloud(lms_factory, cloud_broker, RESULTS, HEARTBEAT)
    a1 = agents("agent-1").start()
    a2 = agents("agent-2").start()
    lms.wait_agents("agent-1", "agent-2")

    cloud.publish(DOWN, site_command("cmd-1", "set_setting", ["agent-1", "agent-2", "agent-9"],
                                     params={"key": "font_size", "value": 18}))
    for agent_id in ("agent-1", "agent-2"):
        ok = wait_result(cloud, agent_id, "succeeded")
        assert ok["request_id"] == "cmd-1" and ok["success"] is True and ok["data"] == {"success": True}
    unknown = wait_result(cloud, "agent-9", "failed")
    assert unknown["error_code"] == "unknown_agent"
    assert a1.settings["font_size"] == "18" and a2.settings["font_size"] == "18"

    # per agent: statuses only move forward (progress is held a moment and replaced by what follows it, so a
    # quick answer is one result); the terminal one carries every hop; nothing `delivered` for agent-9
    statuses: dict[str, list[str]] = {}
    for r in results_in(cloud):
        statuses.setdefault(r["agent_id"], []).append(r["status"])
    assert statuses["agent-9"] == ["failed"]
    for agent_id in ("agent-1", "agent-2"):
        assert statuses[agent_id] in (["succeeded"], ["delivered", "succeeded"])
        hops = wait_result(cloud, agent_id, "succeeded")["hops"]
        assert list(hops) == ["received", "delivered", "finished"]
        assert hops["received"] <= hops["delivered"] <= hops["finished"]
    assert list(wait_result(cloud, "agent-9", "failed")["hops"]) == ["received"]
    # the agents got the cloud's command id beside their own request id
    assert a1.commands[0].command_id == "cmd-1" and a1.commands[0].request_id != "cmd-1"

    # the same command again (a QoS 1 redelivery) is not run twice
    cloud.publish(DOWN, site_command("cmd-1", "set_setting", ["agent-1"], params={"key": "font_size", "value": 1}))
    cloud.publish(DOWN, site_command("cmd-2", "ping", ["agent-1"]))
    wait_result(cloud, "agent-1", "succeeded")
    wait_succeeded(cloud, "cmd-2")
    assert a1.settings["font_size"] == "18"
    assert [c.command for c in a1.commands] == ["set_setting", "ping"]
    # cloud commands that change things are in the local audit log too (once; `ping` is read-only)
    audit = lms.http.get("/api/audit", params={"actor": "cloud"}).json()["data"]["entries"]
    assert [(e["action"], e["target"], e["detail"]["request_id"]) for e in audit] == [
        ("cloud:set_setting", "agent-1,agent-2,agent-9", "cmd-1")
    ]

    # site heartbeats carry the agents and their presence
    def beat_with_both() -> bool:
        beats = [decode(SiteHeartbeat, m.payload) for m in list(cloud.messages) if m.topic == HEARTBEAT]
        seen = {a.agent_id: a.status.value for b in beats for a in b.agents}
        return seen.get("agent-1") == "online" and seen.get("agent-2") == "online"

    eventually(beat_with_both, what="site heartbeat with both agents")
    # each states the full period in force (the harness's site_heartbeat_s), by which the cloud judges its silence
    periods = {decode(SiteHeartbeat, m.payload).full_period_s for m in list(cloud.messages) if m.topic == HEARTBEAT}
    assert periods == {30}
    cloud_health = lms.health()["cloud"]
    assert cloud_health.pop("config_version").startswith("local:")  # no lms:config shadow: the file is in force
    assert cloud_health == {"connected": True, "outbox_pending": 0, "outbox_dead": 0}


def old_agent(agent: SimAgent, cmd: Command) -> Response | None:
    """An agent older than ``Command.command_id``: its strict model refuses the field, and nothing runs."""
    if cmd.command_id is not None:
        return Response.fail(cmd.request_id, ErrorCode.BAD_PAYLOAD,
                             "invalid Command: command_id: Extra inputs are not permitted")
    return settings_responder(agent, cmd)


def test_an_agent_older_than_command_id_gets_the_command_without_it(
    lms_factory: LmsFactory, agents: AgentFactory, cloud_broker: Broker
) -> None:
    cloud = cloud_broker.client()
    cloud.subscribe(RESULTS)
    lms = lms_factory(cloud_broker.port).start()
    old = agents("agent-2", responder=old_agent).start()
    lms.wait_agent("agent-2")
    for cid in ("cmd-old-1", "cmd-old-2"):
        cloud.publish(DOWN, site_command(cid, "set_setting", ["agent-2"], params={"key": "font_size", "value": 20}))
        wait_succeeded(cloud, cid)
    assert old.settings["font_size"] == "20"
    # refused once (nothing ran), sent again without the field; from then on without it at once
    assert [c.command_id for c in old.commands] == ["cmd-old-1", None, None]
    assert len({c.request_id for c in old.commands}) == 3


def test_expired_timeout_and_bad_cloud_messages(
    lms_factory: LmsFactory, agents: AgentFactory, cloud_broker: Broker
) -> None:
    cloud, lms = start_with_cloud(lms_factory, cloud_broker, RESULTS)
    agent = agents("agent-1", silent_responder).start()
    lms.wait_agent("agent-1")

    cloud.publish(DOWN, b"{not json")
    cloud.publish(DOWN, b'{"type": "command", "request_id": "x"}')
    cloud.publish(DOWN, site_command("old", "ping", ["agent-1"], expires_at=time.time() - 60))
    cloud.publish(DOWN, site_command("slow", "ping", ["agent-1"], timeout_s=0.3))
    assert wait_result(cloud, "agent-1", "expired")["request_id"] == "old"
    timed_out = wait_result(cloud, "agent-1", "timed_out")
    assert timed_out["request_id"] == "slow" and timed_out["error_code"] == "timeout"
    assert [c.command for c in agent.commands] == ["ping"]  # the expired one never reached the agent
    assert "fanout: dropped message" in lms.log()
    assert lms.health()["cloud"]["connected"] is True


@pytest.fixture
def own_cloud_broker() -> Iterator[MosquittoProcess]:
    """An IoT Core stand-in on a fixed port, so that the test can stop and restart it."""
    workdir = Path(tempfile.mkdtemp(prefix="ct-lms-cloud-"))
    broker = MosquittoProcess(workdir, port=free_port(), template="cloud")
    try:
        yield broker.start()
    finally:
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _probe(broker: MosquittoProcess) -> MqttProbe:
    return Broker(broker).client()


def test_results_survive_a_cloud_outage_and_an_lms_restart(
    lms_factory: LmsFactory, agents: AgentFactory, own_cloud_broker: MosquittoProcess, tmp_path: Path
) -> None:
    cloud = _probe(own_cloud_broker)
    cloud.subscribe(RESULTS)
    lms = lms_factory(own_cloud_broker.port).start()
    agent = agents("agent-1", silent_responder).start()
    lms.wait_agent("agent-1")

    cloud.publish(DOWN, site_command("cmd-a", "get_info", ["agent-1"], timeout_s=60))
    cloud.publish(DOWN, site_command("cmd-b", "get_metrics", ["agent-1"], timeout_s=60))
    cloud.publish(DOWN, site_command("cmd-c", "ping", ["agent-1"], timeout_s=60))
    eventually(lambda: len(agent.commands) == 3, what="three commands at the agent")
    wait_result(cloud, "agent-1", "delivered")
    eventually(lambda: len(results_in(cloud)) == 3, what="three delivered results")
    cloud.close()

    # the cloud goes away; the agent finishes two commands meanwhile
    own_cloud_broker.stop()
    eventually(lambda: lms.health()["cloud"]["connected"] is False, what="link down")
    by_name = {c.command: c for c in agent.commands}
    agent.respond(Response.ok(by_name["get_info"].request_id, {"n": 1}))
    agent.respond(Response.ok(by_name["get_metrics"].request_id, {"n": 2}))
    # (results that arrive together share one outbox row, so count results, not rows)
    eventually(lambda: queued_results(tmp_path / "lms.db") == ["cmd-a", "cmd-b"], what="two results queued")
    assert lms.health()["cloud"]["outbox_pending"] >= 1

    # the LMS stops with cmd-c still running: it stays in flight (cloud_requests), nothing is reported for it
    assert lms.stop() == 0, lms.log()
    with sqlite3.connect(tmp_path / "lms.db") as db:
        rows = db.execute("SELECT topic, payload FROM outbox ORDER BY id").fetchall()
        in_flight = db.execute("SELECT command_id, agent_id FROM cloud_requests").fetchall()
    assert {t for t, _ in rows} == {RESULTS}
    queued = [r for _, p in rows for r in decode(CommandResults, p).results]
    assert [(r.request_id, r.status.value) for r in queued] == [("cmd-a", "succeeded"), ("cmd-b", "succeeded")]
    assert in_flight == [("cmd-c", "agent-1")]

    # the cloud comes back first, then a new LMS process on the same database delivers everything, in order
    own_cloud_broker.start()
    cloud = _probe(own_cloud_broker)
    cloud.subscribe(RESULTS)
    before = len(agent.commands)
    lms2 = lms_factory(own_cloud_broker.port, name="lms-again").start()
    eventually(lambda: len(results_in(cloud)) >= 2, what="queued results delivered")
    delivered = results_in(cloud)
    assert [(r["request_id"], r["status"]) for r in delivered[:2]] == [("cmd-a", "succeeded"), ("cmd-b", "succeeded")]
    assert delivered[0]["data"] == {"n": 1} and delivered[1]["data"] == {"n": 2}
    # the two rows went up as one merged message
    assert sum(1 for m in cloud.messages if m.topic == RESULTS) == 1
    # and it asks the agent again for cmd-c (same command id, a new request id): its answer reaches the cloud
    eventually(lambda: len(agent.commands) > before, what="cmd-c asked again")
    again = agent.commands[before]
    assert again.command_id == "cmd-c" and again.command == "ping"
    agent.respond(Response.ok(again.request_id, {"pong": True}))
    wait_result(cloud, "agent-1", "succeeded")
    wait_succeeded(cloud, "cmd-c")
    eventually(lambda: lms2.health()["cloud"]["outbox_pending"] == 0, what="outbox empty")

    # IoT Core redelivers cmd-a to the new process (a persistent session): it remembers and does not run it
    # again; a new command still runs
    before = len(agent.commands)
    cloud.publish(DOWN, site_command("cmd-a", "get_info", ["agent-1"], timeout_s=60))
    cloud.publish(DOWN, site_command("cmd-d", "ping", ["agent-1"], timeout_s=60))
    eventually(lambda: len(agent.commands) > before, what="cmd-d at the agent")
    wait_result(cloud, "agent-1", "delivered")
    eventually(lambda: any(r["request_id"] == "cmd-d" for r in results_in(cloud)), what="cmd-d delivered")
    assert [c.command for c in agent.commands[before:]] == ["ping"]
    assert not any(r["request_id"] == "cmd-a" for r in results_in(cloud)[2:])
