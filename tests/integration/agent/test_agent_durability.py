"""The real agent against a real broker: results survive broker outages and agent restarts (the outbox),
command progress states, and ClassTop data snapshots."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from infra.local.mosquitto import MosquittoProcess
from shared.commands import ClassTopSnapshot
from shared.messages import Event, Response, StateUpdate, decode
from shared.topics import AgentUp, agent_down, agent_up
from tests.fixtures.agents import AGENT
from tests.fixtures.brokers import Broker, MqttProbe, Received
from tests.integration.agent.test_agent_process import (
    STATUS,
    AgentRunner,
    call,
    expect,
    restartable_site,
    wait_online,
)

pytestmark = pytest.mark.integration

RESPONSE = agent_up(AGENT, AgentUp.RESPONSE)
EVENT = agent_up(AGENT, AgentUp.EVENT)
LMS_SESSION = "lms-durable-session"


def persistent_lms(broker: Broker) -> MqttProbe:
    """An ``lms`` client with a persistent session: the broker keeps its QoS 1 messages while it is away
    (and across a broker restart), so nothing the agent sends before it reconnects is missed."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=LMS_SESSION, clean_session=False)
    client.username_pw_set("lms", broker.passwords["lms"])
    probe = MqttProbe(client)
    broker.probes.append(probe)
    client.connect(broker.host, broker.port, keepalive=30)
    client.loop_start()
    assert probe.connack_received.wait(10) and probe.connected.is_set()
    probe.subscribe(f"ct/agent/{AGENT}/up/#")
    return probe


@pytest.fixture
def outage(tmp_path: Path) -> Iterator[tuple[MosquittoProcess, Broker, AgentRunner]]:
    """A broker the test may stop and restart (same port, same persistence) and an agent runner."""
    with restartable_site("agent-outbox", tmp_path) as (broker, runner):
        runner.write_config('mode = "any"\nmax_concurrent = 2\nkill_grace_s = 0.5')
        yield broker.process, broker, runner


def outbox_rows(runner: AgentRunner) -> list[tuple[str, dict[str, Any]]]:
    """What the agent's outbox holds, oldest first: its append-only file replayed, read-only."""
    path = runner.state_dir / "outbox.log"
    if not path.exists():
        return []
    pending: dict[int, tuple[str, dict[str, Any]]] = {}
    for line in path.read_bytes().split(b"\n")[:-1]:
        if line.startswith(b"+"):
            seq, channel, payload = line[1:].split(b"\t", 2)
            pending[int(seq)] = (channel.decode(), json.loads(payload))
        elif line.startswith(b"-"):
            pending.pop(int(line[1:]), None)
    return [pending[seq] for seq in sorted(pending)]


def appended(runner: AgentRunner, request_id: str) -> bool:
    """Whether the agent's outbox ever held the response to ``request_id`` (done or not)."""
    path = runner.state_dir / "outbox.log"
    lines = path.read_bytes().split(b"\n")[:-1] if path.exists() else []
    return any(
        line.startswith(b"+") and line.split(b"\t")[1:2] == [b"response"] and request_id.encode() in line
        for line in lines
    )


def wait_rows(runner: AgentRunner, n: int, timeout: float = 30) -> list[tuple[str, dict[str, Any]]]:
    deadline = time.monotonic() + timeout
    while True:
        rows = [r for r in outbox_rows(runner) if r[0] == "response"]
        if len(rows) >= n:
            return rows
        if time.monotonic() > deadline:
            raise TimeoutError(f"the outbox holds {rows}, expected {n} responses")
        time.sleep(0.05)


def wait_gate_exec(lms: MqttProbe, rid: str, gate: Path) -> None:
    """Start an exec that finishes only when ``gate`` exists; wait until the agent says it is running."""
    since = len(lms.messages)
    params = {"cmd": f"while [ ! -e {gate} ]; do sleep 0.02; done; echo {rid}", "timeout_s": 300}
    lms.publish(agent_down(AGENT), json.dumps({"type": "command", "request_id": rid, "command": "exec",
                                               "params": params}))
    expect(lms, lambda m: m.topic == EVENT and _state(m) == (rid, "running"), since=since)


def _state(m: Received) -> tuple[str, str] | None:
    event = decode(Event, m.payload)
    return (event.data["request_id"], event.data["status"]) if event.kind == "command.state" else None


def responses(probe: MqttProbe) -> list[Response]:
    return [decode(Response, m.payload) for m in list(probe.messages) if m.topic == RESPONSE]


def wait_responses(probe: MqttProbe, rids: set[str], timeout: float = 30) -> list[Response]:
    deadline = time.monotonic() + timeout
    while True:
        got = [r for r in responses(probe) if r.request_id in rids]
        if {r.request_id for r in got} == rids:
            return got
        if time.monotonic() > deadline:
            raise TimeoutError(f"responses {[r.request_id for r in got]}, expected {sorted(rids)}")
        time.sleep(0.02)


def finish_while_the_broker_is_down(
    outage: tuple[MosquittoProcess, Broker, AgentRunner], gate: Path, rids: list[str]
) -> list[tuple[str, dict[str, Any]]]:
    """Start the agent and the gated execs ``rids``, stop the broker, then let the execs finish while it is down;
    returns the outbox once it holds their responses."""
    process, broker, runner = outage
    lms = persistent_lms(broker)
    runner.start()
    wait_online(lms)
    for rid in rids:
        wait_gate_exec(lms, rid, gate)
    broker.close_clients()
    process.stop()
    gate.touch()  # the commands finish while the broker is unreachable
    return wait_rows(runner, len(rids))


def test_results_produced_while_the_broker_is_down_are_delivered_in_order_after(
    outage: tuple[MosquittoProcess, Broker, AgentRunner], tmp_path: Path
) -> None:
    process, broker, runner = outage
    queued = finish_while_the_broker_is_down(outage, tmp_path / "go", ["slow-a", "slow-b"])
    order = [payload["request_id"] for _channel, payload in queued]
    assert sorted(order) == ["slow-a", "slow-b"]
    process.start()  # same port, same persistence (the LMS session survives)
    lms = persistent_lms(broker)
    delivered = wait_responses(lms, {"slow-a", "slow-b"})
    assert [r.request_id for r in delivered] == order  # in the order they were produced
    assert all(r.success and r.data["stdout"] == f"{r.request_id}\n" for r in delivered)
    deadline = time.monotonic() + 20
    while outbox_rows(runner) and time.monotonic() < deadline:  # acknowledged rows are deleted
        time.sleep(0.05)
    assert outbox_rows(runner) == []
    assert call(lms, "ping", rid="after").success
    assert runner.stop() == 0


def test_queued_results_survive_an_agent_restart(
    outage: tuple[MosquittoProcess, Broker, AgentRunner], tmp_path: Path
) -> None:
    process, broker, runner = outage
    finish_while_the_broker_is_down(outage, tmp_path / "go", ["before-restart"])
    assert runner.stop() == 0  # stops cleanly with the broker still down
    assert [p["request_id"] for c, p in outbox_rows(runner) if c == "response"] == ["before-restart"]
    process.start()
    lms = persistent_lms(broker)
    runner.start()  # a new process delivers what the old one could not
    (response,) = wait_responses(lms, {"before-restart"})
    assert response.success and response.data["stdout"] == "before-restart\n"
    assert call(lms, "ping", rid="after-restart").success
    assert runner.stop() == 0
    assert outbox_rows(runner) == []


def test_results_sent_before_the_lms_is_back_on_a_broker_that_lost_its_session_reach_it(
    outage: tuple[MosquittoProcess, Broker, AgentRunner], tmp_path: Path
) -> None:
    """Issue 17 (the short chaos run lost agent events after ``site_broker_kill``): a site broker killed before it
    first saved its database (``autosave_interval`` 60 s) comes back without the LMS's persistent session. The agent
    is back first and publishes; the broker answers "no matching subscribers" (MQTT 5 reason 0x10): nobody got it.
    The agent keeps it in its outbox and sends it again until the LMS, subscribed again, has it."""
    process, broker, runner = outage
    gate = tmp_path / "go"
    lms = persistent_lms(broker)
    runner.start()
    wait_online(lms)
    wait_gate_exec(lms, "across-the-crash", gate)
    broker.close_clients()
    assert process.pid is not None
    os.kill(process.pid, signal.SIGKILL)
    process.stop()  # reaps it
    (process.data_dir / "mosquitto.db").unlink(missing_ok=True)  # as if killed before its first save
    process.start()
    watcher = broker.client("lms")  # the agent's presence only: nobody subscribes to its results
    watcher.subscribe(STATUS)
    watcher.wait_for(lambda m: m.topic == STATUS and json.loads(m.payload)["state"] == "online", timeout=30)
    gate.touch()  # the result is published while the LMS's session does not exist
    deadline = time.monotonic() + 30
    # published and acknowledged: kept after the broker said nobody subscribed, or (the defect) deleted
    while not (appended(runner, "across-the-crash")
               and ("no subscriber" in runner.output() or not outbox_rows(runner))):  # fmt: skip
        assert time.monotonic() < deadline, f"the agent never published its result: {outbox_rows(runner)}"
        time.sleep(0.05)
    lms = persistent_lms(broker)  # the LMS is back (a new session: the broker lost the old one)
    (response,) = {r.request_id: r for r in wait_responses(lms, {"across-the-crash"})}.values()
    assert response.success and response.data["stdout"] == "across-the-crash\n"
    deadline = time.monotonic() + 20
    while outbox_rows(runner) and time.monotonic() < deadline:  # delivered for real: deleted
        time.sleep(0.05)
    assert outbox_rows(runner) == []
    assert runner.stop() == 0


def snapshot_after(lms: MqttProbe, since: int, version: int | None = None) -> ClassTopSnapshot:
    def pred(m: Received) -> bool:
        if m.topic != EVENT:
            return False
        event = decode(Event, m.payload)
        return event.kind == "classtop.snapshot" and (version is None or event.data["version"] == version)

    return ClassTopSnapshot.model_validate(decode(Event, expect(lms, pred, since=since).payload).data)


def test_classtop_data_is_imported_changed_by_commands_and_snapshotted(
    site_broker: Broker, tmp_path: Path
) -> None:
    source = tmp_path / "classtop-client.json"
    source.write_text(json.dumps({
        "courses": [{"id": 1, "name": "Maths", "teacher": "Li"}],
        "schedules": [{"id": 5, "course_id": 1, "day_of_week": 1, "start_time": "8:00", "end_time": "8:45",
                       "weeks": "1-3"}],
    }))
    runner = AgentRunner(site_broker, tmp_path)
    runner.write_config()
    with runner.config.open("a") as fh:
        fh.write(f'[classtop]\nimport_path = "{source}"\nsync_interval_s = 3600\n')
    lms = site_broker.client("lms")
    lms.subscribe(f"ct/agent/{AGENT}/up/#")
    try:
        runner.start()
        first = snapshot_after(lms, 0)
        state = decode(StateUpdate, expect(lms, agent_up(AGENT, AgentUp.STATE)).payload)
        inventory = state.data.inventory or {}
        assert inventory["cpu"]["logical"] >= 1 and inventory["memory_total"] > 0 and inventory["os"]["system"]
        assert isinstance(inventory["nics"], list) and isinstance(inventory["disks"], list)
        assert first.version == 1 and [c.name for c in first.courses] == ["Maths"]
        assert first.schedule_entries[0].weeks == [1, 2, 3] and first.schedule_entries[0].start_time == "08:00"
        since = len(lms.messages)
        courses = [{"id": 1, "name": "Maths", "teacher": "Li"}, {"id": 2, "name": "Music"}]
        answer = call(lms, "set_courses", {"courses": courses}, rid="set-1")
        assert answer.success and answer.data["changed"] and answer.data["version"] == 2
        second = snapshot_after(lms, since, version=2)
        assert second.epoch == first.epoch and second.hash != first.hash
        bad = call(lms, "set_courses", {"courses": [{"id": 2, "name": "Music"}]}, rid="set-2")
        assert bad.error_code == "invalid_params" and "unknown course ids [1]" in (bad.error or "")
        assert [c["name"] for c in call(lms, "get_courses", rid="get-1").data["courses"]] == ["Maths", "Music"]
        processes = call(lms, "get_processes", {"top": 5}, rid="ps-1").data
        assert processes["count"] >= 1 and 1 <= len(processes["by_cpu"]) <= 5
        assert runner.stop() == 0
        since = len(lms.messages)
        runner.start()  # the unchanged source is not re-imported: same version, nothing for the LMS to re-apply
        wait_online(lms, since=since)
        third = snapshot_after(lms, since)
        assert (third.epoch, third.version, third.hash) == (second.epoch, 2, second.hash)
        assert runner.stop() == 0
    finally:
        if runner.proc is not None:
            runner.proc.kill()
            runner.proc.wait(10)
        print(runner.output()[-5000:])
