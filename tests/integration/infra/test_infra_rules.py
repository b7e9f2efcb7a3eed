"""IoT topic rules: the site a rule handler acts for comes from the topic, never from the message (issue 11,
item 15).

An LMS may publish only on its own site's up topics (the site policy), but it chooses the message. A rule that
merges the payload into the event (``SELECT *, topic(5) AS site_id``) lets a payload key compete with the alias,
and AWS documents no precedence for that collision. So every event IoT Core *may* hand the Lambda for the rule's
SQL is computed here (:func:`aws_events`: both outcomes where a payload key meets an alias) and each goes to the
handler; the same forged messages also travel a real broker through the local twin's rules engine. Site ``s1``
forges messages carrying ``site_id: s2`` and every alias of the rule: site ``s2``'s agents, version and commands
must stay as ``s2`` left them.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from paho.mqtt.client import topic_matches_sub

from chalicelib import container, models
from chalicelib.adapters.iot import RecordingPublisher
from chalicelib.config import Settings
from chalicelib.domain.token import Principal, Role
from chalicelib.handlers import RULE_HANDLERS
from chalicelib.services.commands import CommandRequest
from infra.aws.rules import RULES, Rule, event_for
from infra.local.rules_engine import RulesEngine
from shared import topics
from shared.mqtt import MqttClient, MqttSettings
from tests.fixtures.brokers import Broker, MqttProbe
from tests.integration.infra.moto_deploy import AWS_ENV, REGION

pytestmark = pytest.mark.integration

SETTINGS_ARGS = {"tenant": "demo", "stage": "rules", "region": REGION}
T0 = 1_700_000_000.0


# ---------------------------------------------------------------- what IoT Core may produce for the rule's SQL


def _select_items(select: str) -> list[str]:
    """Split a SELECT list on its top-level commas."""
    items, depth, current = [], 0, ""
    for char in select:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            items.append(current.strip())
            current = ""
        else:
            current += char
    return [*items, current.strip()]


def aws_events(sql: str, topic: str, payload: bytes) -> list[dict[str, Any]]:
    """Every event IoT Core may invoke the Lambda with for ``payload`` on ``topic`` (SQL version 2016-03-23).

    Models the SELECT items the project uses - ``*``, ``topic(n) AS a``, ``encode(*, 'base64') AS a`` - and
    refuses anything else. ``*`` needs a JSON object payload (else the rule does not fire). Where a payload key
    equals an alias AWS documents no winner, so both events are candidates. A Basic Ingest topic
    (``$aws/rules/<rule>/...``) reaches the rule whatever its ``FROM``; ``topic(n)`` counts without the prefix. The
    ``WHERE`` (``topic(n) = '...'`` joined by ``AND``) must hold, else no event.
    """
    match = re.fullmatch(r"SELECT (.+) FROM '([^']+)'(?: WHERE (.+))?", sql)
    assert match, sql
    rule_name, topic = topics.split_basic_ingest(topic)
    levels = topic.split("/")
    if rule_name is None and not topic_matches_sub(match.group(2), topic):
        return []
    for check in (match.group(3) or "").split(" AND ") if match.group(3) else ():
        level = re.fullmatch(r"topic\((\d+)\) = '([^']*)'", check)
        assert level, f"WHERE condition not modelled here: {check}"
        n = int(level.group(1))
        if n > len(levels) or levels[n - 1] != level.group(2):
            return []
    computed: dict[str, Any] = {}
    merge = False
    for item in _select_items(match.group(1)):
        if item == "*":
            merge = True
            continue
        topic_item = re.fullmatch(r"topic\((\d+)\) AS (\w+)", item)
        encoded = re.fullmatch(r"encode\(\*, 'base64'\) AS (\w+)", item)
        if topic_item:
            computed[topic_item.group(2)] = topic.split("/")[int(topic_item.group(1)) - 1]
        elif encoded:
            computed[encoded.group(1)] = base64.b64encode(payload).decode()
        else:
            raise AssertionError(f"SELECT item not modelled here: {item}")
    if not merge:
        return [computed]
    try:
        body = json.loads(payload)
    except ValueError:
        return []
    if not isinstance(body, dict):
        return []
    candidates = [{**body, **computed}, {**computed, **body}]
    return [c for i, c in enumerate(candidates) if c not in candidates[:i]]


def aliases(sql: str) -> list[str]:
    return re.findall(r" AS (\w+)", sql)


# ---------------------------------------------------------------- the cloud and the twin's rules engine


@dataclass
class Fleet:
    settings: Settings
    engine: RulesEngine
    lms: MqttProbe
    clock: list[float]

    def publish(self, rule: Rule, site: str, payload: bytes) -> None:
        """What an LMS of ``site`` may do: publish on its own up topic; wait until the rule has run."""
        before = self.engine.invocations[rule.name]
        self.lms.publish(topics.site_up(self.settings.namespace, site, channel(rule)), payload, qos=1)
        wait_until(lambda: self.engine.invocations[rule.name] > before, f"rule {rule.name} to run")


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def fleet(moto_url: str, cloud_broker: Broker, monkeypatch: pytest.MonkeyPatch) -> Iterator[Fleet]:
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    settings = Settings(**SETTINGS_ARGS, aws_endpoint=moto_url)  # type: ignore[arg-type]
    clock = [T0]
    container.reset()
    container.configure(settings=settings, publisher=RecordingPublisher(), clock=lambda: clock[0])
    models.create_tables(settings)
    mqtt = MqttClient(MqttSettings(host=cloud_broker.host, port=cloud_broker.port, client_id="local-cloud"),
                      name="rules-test")
    engine = RulesEngine(mqtt, settings.namespace, RULE_HANDLERS)
    engine.start()
    mqtt.start(wait_s=10)
    try:
        yield Fleet(settings, engine, cloud_broker.client(client_id="lms"), clock)
    finally:
        mqtt.stop()
        container.reset()
        models.unbind()


def rule(name: str) -> Rule:
    return next(r for r in RULES if r.name == name)


def channel(rule: Rule) -> topics.SiteUp:
    """The site up channel ``rule`` listens on (only the presence rule has none: it is no site's to publish)."""
    assert rule.channel is not None, rule.name
    return rule.channel


def heartbeat(lms_version: str, agents: list[dict[str, Any]], at: float) -> dict[str, Any]:
    return {"type": "site_heartbeat", "v": 1, "timestamp": at, "lms_version": lms_version, "full": True,
            "agents": agents}


def forged(message: dict[str, Any], sql: str, victim: str) -> bytes:
    """``message`` claiming to come from ``victim``: its ``site_id`` and every alias of the rule set to it (an
    alias that carries the message gets the message itself)."""
    claim: dict[str, Any] = {**message, "site_id": victim}
    for alias in aliases(sql):
        claim.setdefault(alias, victim)
    for alias in aliases(sql):
        if "encode(" in sql.split(f" AS {alias}")[0].rsplit(",", 1)[-1]:
            claim[alias] = base64.b64encode(json.dumps(message).encode()).decode()
    return json.dumps(claim).encode()


def test_rule_site_id_comes_only_from_topic(fleet: Fleet) -> None:
    ns = fleet.settings.namespace
    services = container.get()
    beat, results = rule("site_heartbeat"), rule("command_results")

    # s2 reports its agent through the rules engine (the path works), and a command goes to that agent
    fleet.publish(beat, "s2", json.dumps(heartbeat("2.0.0", [{"agent_id": "pc-b1", "status": "online"}], T0))
                  .encode())
    assert services.agents.get("pc-b1", Principal("t", Role.ADMIN)).site_id == "s2"
    command = services.commands.create(CommandRequest("ping", {}, ("pc-b1",)), Principal("t", Role.ADMIN))

    # s1 forges s2's heartbeat (no agents: s2's would go offline) and s2's result (completing s2's command)
    fleet.clock[0] = T0 + 60
    attacks = [
        (beat, forged(heartbeat("6.6.6", [], T0 + 30), beat.sql(ns), "s2")),
        (results, forged({"type": "command_results", "v": 1, "results": [
            {"request_id": command.command_id, "agent_id": "pc-b1", "status": "succeeded", "success": True,
             "timestamp": T0 + 30}]}, results.sql(ns), "s2")),
    ]
    for attacked, payload in attacks:
        topic = topics.site_up(ns, "s1", channel(attacked))
        for event in aws_events(attacked.sql(ns), topic, payload):  # whichever way AWS resolves a collision
            RULE_HANDLERS[attacked.handler](event, None)
        fleet.publish(attacked, "s1", payload)  # and through a real broker and the twin's rules engine

    agent = services.agents.get("pc-b1", Principal("t", Role.ADMIN))
    assert (agent.site_id, agent.status.value) == ("s2", "online"), "a forged heartbeat acted for site s2"
    assert services.sites.get("s2", Principal("t", Role.ADMIN)).lms_version == "2.0.0", "site s2 was rewritten"
    assert services.commands.get(command.command_id, Principal("t", Role.ADMIN)).status.value != "succeeded", \
        "a forged result completed site s2's command"
    # Basic Ingest reaches the rule its prefix names whatever the topic after it; the site policy's
    # `$aws/rules/classtop__*/.../site/<own site>/up/*` lets s1 shift levels so that topic(5) would read another
    # word: the rule's WHERE refuses it (and the twin's engine, subscribed to exact filters, never sees it)
    for attacked, payload in attacks:
        shifted = f"$aws/rules/{attacked.full_name(ns)}/x/{topics.site_up_plain(ns, 's1', channel(attacked))}"
        assert aws_events(attacked.sql(ns), shifted, payload) == []
        assert not attacked.sees(ns, shifted)
        other_rule = f"$aws/rules/{attacked.full_name(ns)}/{topics.site_up_plain(ns, 's1', topics.SiteUp.STATE)}"
        assert aws_events(attacked.sql(ns), other_rule, payload) == []
    # the twin hands the handlers exactly what AWS would
    for attacked, payload in attacks:
        topic = topics.site_up(ns, "s1", channel(attacked))
        assert [event_for(attacked, topic, payload)] == aws_events(attacked.sql(ns), topic, payload)



def _alert(agent_id: str, alert_id: str, seq: int, state: str) -> dict[str, Any]:
    from shared.messages.alert import AlertTarget, TargetKind, alert_key

    target = AlertTarget(kind=TargetKind.AGENT, agent_id=agent_id)
    record: dict[str, Any] = {
        "alert_id": alert_id, "key": alert_key("tenant", "disk-full", target), "seq": seq, "rule_id": "disk-full",
        "rule_scope": "tenant", "rule_name": "Disk almost full", "severity": "error",
        "condition_kind": "metric_threshold", "target": target.model_dump(mode="json"), "state": state,
        "opened_at": T0, "changed_at": T0 + seq}
    if state == "resolved":
        record["resolved_at"] = T0 + seq
    return record


def test_site_alerts_through_the_rules_engine_apply_once_in_order_and_only_for_the_topics_site(fleet: Fleet) -> None:
    """An LMS's backlog of alert changes after a link cut (each change once, then the outbox's resends) through a
    real broker and the twin's rules engine: applied in order, once; and site s1 forging site s2's alert (its id,
    a higher seq, every alias of the rule set to s2) changes nothing of s2's."""
    ns = fleet.settings.namespace
    services = container.get()
    alerts, beat = rule("site_alerts"), rule("site_heartbeat")
    for site, agent in (("s1", "pc-a1"), ("s2", "pc-b1")):
        fleet.publish(beat, site, json.dumps(heartbeat("2.0.0", [{"agent_id": agent, "status": "online"}], T0))
                      .encode())
    theirs, ours = "b" * 32, "a" * 32
    fleet.publish(alerts, "s2", json.dumps({"type": "site_alerts", "v": 1,
                                            "alerts": [_alert("pc-b1", theirs, 1, "firing")]}).encode())
    backlog = [_alert("pc-a1", ours, 1, "firing"), _alert("pc-a1", ours, 2, "acknowledged"),
               _alert("pc-a1", ours, 3, "resolved")]
    for record in [*backlog, *backlog]:  # the outbox resends what it was not sure had arrived
        fleet.publish(alerts, "s1", json.dumps({"type": "site_alerts", "v": 1, "alerts": [record]}).encode())
    admin = Principal("t", Role.ADMIN)
    mine = services.alerts.get(ours, admin)
    assert (mine.site_id, mine.record.seq, mine.state.value) == ("s1", 3, "resolved")

    attack = forged({"type": "site_alerts", "v": 1, "alerts": [_alert("pc-b1", theirs, 9, "resolved")]},
                    alerts.sql(ns), "s2")
    topic = topics.site_up(ns, "s1", channel(alerts))
    for event in aws_events(alerts.sql(ns), topic, attack):
        RULE_HANDLERS[alerts.handler](event, None)
    fleet.publish(alerts, "s1", attack)
    victim = services.alerts.get(theirs, admin)
    assert (victim.site_id, victim.record.seq, victim.state.value) == ("s2", 1, "firing"), "a forged alert won"
