"""The agent registry, fed the messages the site broker would deliver (real registry, real SQLite)."""

from __future__ import annotations

import json
import time

from edge.lms.agents import AgentRows, AgentView, Registry
from edge.lms.agents.registry import progress_inline
from edge.lms.store import Store
from shared import topics
from shared.messages import AgentKind, Heartbeat, Presence, StateData, StateUpdate, Status, encode
from shared.mqtt import IncomingMessage, MqttClient, MqttSettings
from shared.topics import AgentUp


def msg(agent_id: str, channel: AgentUp, payload: bytes, retain: bool = False) -> IncomingMessage:
    return IncomingMessage(topics.agent_up(agent_id, channel), payload, 1, retain)


def status(state: Presence, reason: str | None = None) -> bytes:
    return encode(Status(state=state, timestamp=time.time(), reason=reason, hostname="pc-1", version="1.2"))


def test_status_heartbeat_state_and_offline(store: Store) -> None:
    reg = Registry(store, presence_timeout_s=30)
    changes: list[AgentView] = []
    reg.add_listener(changes.append)
    assert reg.presence("agent-1") is None

    reg.handle(msg("agent-1", AgentUp.STATUS, status(Presence.ONLINE, "start"), retain=True))
    view = reg.get("agent-1")
    assert view is not None and view.online and view.hostname == "pc-1" and view.version == "1.2"
    assert reg.presence("agent-1") is Presence.ONLINE

    reg.handle(msg("agent-1", AgentUp.HEARTBEAT, encode(Heartbeat(timestamp=1.0))))
    state = StateUpdate(data=StateData(settings={"font_size": "14"}))
    reg.handle(msg("agent-1", AgentUp.STATE, encode(state)))
    assert reg.get("agent-1").settings == {"font_size": "14"}  # type: ignore[union-attr]

    reg.handle(msg("agent-1", AgentUp.STATUS, status(Presence.OFFLINE, "lost")))
    assert reg.presence("agent-1") is Presence.OFFLINE
    assert [(c.agent_id, c.status, c.status_reason) for c in changes] == [
        ("agent-1", Presence.ONLINE, "start"),
        ("agent-1", Presence.OFFLINE, "lost"),
    ]
    assert reg.counts() == (1, 0)
    events = [e["event_type"] for e in AgentRows(store).connection_log("agent-1")]
    assert events == ["offline", "online"]

    # a fresh registry on the same database knows the agent and its settings
    again = Registry(store, presence_timeout_s=30)
    again.load()
    view = again.get("agent-1")
    assert view is not None and view.status is Presence.OFFLINE and view.settings == {"font_size": "14"}


def test_bad_payloads_are_counted_and_dropped(store: Store) -> None:
    reg = Registry(store, presence_timeout_s=30)
    reg.handle(msg("agent-1", AgentUp.STATUS, b"{nope"))
    reg.handle(msg("agent-1", AgentUp.STATUS, b'{"type": "status", "state": "sleeping", "timestamp": 1}'))
    reg.handle(msg("agent-1", AgentUp.HEARTBEAT, b"[]"))
    reg.handle(IncomingMessage("ct/agent/bad id/up/status", b"{}", 1, False))
    reg.handle(IncomingMessage("something/else", b"{}", 1, False))
    assert reg.stats.bad_payloads == 5
    assert reg.agents() == []


def test_sweeper_marks_silent_agents_offline_and_a_heartbeat_revives_them(store: Store) -> None:
    reg = Registry(store, presence_timeout_s=0.2)
    reg.handle(msg("agent-1", AgentUp.STATUS, status(Presence.ONLINE, "start")))
    reg.handle(msg("agent-2", AgentUp.STATUS, status(Presence.ONLINE, "start")))
    time.sleep(0.12)
    reg.handle(msg("agent-2", AgentUp.METRICS, b"{}"))  # any message is a sign of life
    time.sleep(0.12)
    assert reg.sweep() == ["agent-1"]
    assert reg.get("agent-1").status_reason == "timeout"  # type: ignore[union-attr]
    assert reg.presence("agent-2") is Presence.ONLINE
    reg.handle(msg("agent-1", AgentUp.HEARTBEAT, encode(Heartbeat(timestamp=2.0))))
    assert reg.presence("agent-1") is Presence.ONLINE
    assert reg.get("agent-1").status_reason == "heartbeat"  # type: ignore[union-attr]


def test_the_sweeper_thread_runs_and_flushes_last_seen(store: Store) -> None:
    reg = Registry(store, presence_timeout_s=0.3, sweep_interval_s=0.05)
    reg.start()
    try:
        reg.handle(msg("agent-1", AgentUp.STATUS, status(Presence.ONLINE, "start")))
        assert reg.flush(5.0)  # once started, the writer thread group-commits changes
        before = AgentRows(store).load()[0].last_seen
        time.sleep(0.01)
        reg.handle(msg("agent-1", AgentUp.HEARTBEAT, encode(Heartbeat(timestamp=3.0))))
        deadline = time.monotonic() + 3
        while reg.presence("agent-1") is Presence.ONLINE and time.monotonic() < deadline:
            time.sleep(0.02)
        assert reg.presence("agent-1") is Presence.OFFLINE
    finally:
        reg.stop()
    (row,) = AgentRows(store).load()
    assert row.status == "offline" and row.last_seen is not None and before is not None and row.last_seen > before


def test_a_started_registry_group_commits_changes_in_order_and_stop_writes_the_rest(store: Store) -> None:
    reg = Registry(store, presence_timeout_s=30)
    reg.start()
    try:
        for i in range(3):
            reg.connected(f"pc-{i}", kind="legacy", ip_address="10.0.0.9")
        reg.disconnected("pc-1")
        reg.set_settings("pc-2", {"theme_mode": "dark"})
    finally:
        reg.stop()  # no flush asked: stop writes what is queued
    rows = {r.agent_id: r for r in AgentRows(store).load()}
    assert {u: (r.status, r.kind) for u, r in rows.items()} == {
        "pc-0": ("online", "legacy"), "pc-1": ("offline", "legacy"), "pc-2": ("online", "legacy")
    }
    assert rows["pc-2"].settings == {"theme_mode": "dark"}
    assert [e["event_type"] for e in AgentRows(store).connection_log("pc-1")] == ["offline", "online"]  # newest first


def test_an_agent_rows_kind_never_changes(store: Store) -> None:
    """Item 4 at the registry: a ClassTop connection under an MQTT agent's id is refused, and MQTT messages under
    a ClassTop client's id are dropped; neither row changes kind, across a restart too."""
    reg = Registry(store, presence_timeout_s=30)
    reg.handle(msg("agent-1", AgentUp.STATUS, status(Presence.ONLINE, "start"), retain=True))
    assert reg.connected("agent-1", kind="legacy", ip_address="10.0.0.66") is False
    view = reg.get("agent-1")
    assert view is not None and view.kind == "agent" and view.ip_address is None and view.online

    assert reg.connected("client-1", kind="legacy", ip_address="10.0.0.5") is True
    reg.handle(msg("client-1", AgentUp.STATUS, status(Presence.OFFLINE, "lost")))
    client = reg.get("client-1")
    assert client is not None and client.kind == "legacy" and client.online and client.hostname is None
    assert reg.stats.kind_conflicts == 2

    reloaded = Registry(store, presence_timeout_s=30)
    reloaded.load()
    assert [(a.agent_id, a.kind) for a in reloaded.agents()] == [("agent-1", "agent"), ("client-1", "legacy")]


def test_while_the_site_broker_is_unreachable_mqtt_agents_do_not_time_out(store: Store) -> None:
    """The LMS cannot hear any MQTT agent while its own broker connection is down: their silence is not theirs. A
    ClassTop client (its own WebSocket) still times out."""
    reg = Registry(store, presence_timeout_s=0.2)
    site = MqttClient(MqttSettings(host="127.0.0.1", port=1, client_id="lms"))  # never started: not connected
    reg.attach(site)
    reg.handle(msg("agent-1", AgentUp.STATUS, status(Presence.ONLINE, "start")))
    assert reg.connected("classtop-1", kind=AgentKind.LEGACY.value)
    time.sleep(0.3)
    assert reg.sweep() == ["classtop-1"]
    assert reg.presence("agent-1") is Presence.ONLINE
    time.sleep(0.3)
    assert reg.sweep() == []
    assert reg.presence("agent-1") is Presence.ONLINE and reg.stats.timeouts == 1


def test_progress_is_handled_on_the_network_thread_like_the_responses_it_precedes(store: Store) -> None:
    """An agent's ``running`` and then its answer must reach the fan-out in that order: the answer is handled inline
    (the router's), so the progress is too; other events stay on the dispatcher thread."""
    site = MqttClient(MqttSettings(host="127.0.0.1", port=1, client_id="lms"), manual_ack=True)
    Registry(store, presence_timeout_s=30).attach(site)
    progress = json.dumps({"type": "event", "timestamp": 1.0, "kind": "command.state",
                           "data": {"request_id": "r1", "status": "running"}}).encode()  # fmt: skip
    other = json.dumps({"type": "event", "timestamp": 1.0, "kind": "disk.full", "data": {}}).encode()
    topic = topics.agent_up("agent-1", AgentUp.EVENT)
    assert progress_inline(IncomingMessage(topic, progress, 1, False))
    assert not progress_inline(IncomingMessage(topic, other, 1, False))
    _qos, _handler, inline = site._subscriptions[topics.all_agents_up_filter(AgentUp.EVENT)]
    assert inline is progress_inline


def test_agent_ids_are_every_known_agent_online_or_not_and_none_forgotten(store: Store) -> None:
    """What the alerts ask each second (known agents, for the site-broker rule and the rules' scopes)."""
    reg = Registry(store, presence_timeout_s=30)
    assert reg.agent_ids() == []
    for n in range(3):
        reg.handle(msg(f"agent-{n}", AgentUp.STATUS, status(Presence.ONLINE, "start"), retain=True))
    reg.handle(msg("agent-1", AgentUp.STATUS, status(Presence.OFFLINE, "lost")))
    assert sorted(reg.agent_ids()) == ["agent-0", "agent-1", "agent-2"] == [v.agent_id for v in reg.agents()]
    reg.forget("agent-2")
    assert sorted(reg.agent_ids()) == ["agent-0", "agent-1"]
