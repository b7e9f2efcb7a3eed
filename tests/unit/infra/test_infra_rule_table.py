"""The rule table's SQL and the event the twin builds from it; the rule handlers take nothing else (item 15)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from chalicelib.handlers import RULE_HANDLERS
from chalicelib.handlers.events import RULE_CLIENT_KEY, RULE_MESSAGE_KEY, RULE_SITE_KEY
from infra.aws.rules import CLIENT_ID_SEGMENT, RULES, SITE_ID_SEGMENT, event_for, rule_for_handler
from shared import topics
from shared.errors import TopicError
from shared.names import Namespace

NS = Namespace("district-a", "prod")
SITE_RULES = [r for r in RULES if r.channel is not None]
PRESENCE = rule_for_handler("site_presence")


def test_the_sql_selects_only_functions_of_the_message_and_topic() -> None:
    for rule in SITE_RULES:
        assert rule.channel is not None
        sql = rule.sql(NS)
        select = sql.split(" FROM ")[0]
        assert select == (f"SELECT encode(*, 'base64') AS {RULE_MESSAGE_KEY}, "
                          f"topic({SITE_ID_SEGMENT}) AS {RULE_SITE_KEY}")
        assert f" FROM '{topics.all_sites_up_filter(NS, rule.channel)}' WHERE " in sql
        # the WHERE pins every level of the topic the rule sees but the site id's
        assert sql.endswith(" WHERE topic(1) = 'ct' AND topic(2) = 'district-a' AND topic(3) = 'prod' AND "
                            f"topic(4) = 'site' AND topic(6) = 'up' AND topic(7) = '{rule.channel.value}'")
        assert rule_for_handler(rule.handler) is rule
    assert topics.site_up_plain(NS, "s-9", topics.SiteUp.HEARTBEAT).split("/")[SITE_ID_SEGMENT - 1] == "s-9"


def test_every_rule_takes_its_channel_with_basic_ingest() -> None:
    """The LMS sends each channel to its own rule (``$aws/rules/<rule>/...``); the SQL sees the topic without the
    prefix, so ``topic(5)`` is the site either way."""
    from paho.mqtt.client import topic_matches_sub

    assert {rule.channel: rule.name for rule in SITE_RULES} == topics.SITE_UP_RULES
    for rule in SITE_RULES:
        assert rule.channel is not None
        sent = topics.site_up(NS, "s-9", rule.channel)
        assert sent.startswith(f"$aws/rules/{rule.full_name(NS)}/ct/district-a/prod/site/s-9/up/")
        assert topic_matches_sub(rule.basic_ingest_filter(NS), sent)
        others = [other for other in SITE_RULES if other is not rule]
        assert not any(topic_matches_sub(other.basic_ingest_filter(NS), sent) for other in others)
        assert event_for(rule, sent, b"{}")[RULE_SITE_KEY] == "s-9"
        assert event_for(rule, topics.site_up_plain(NS, "s-9", rule.channel), b"{}")[RULE_SITE_KEY] == "s-9"


def test_the_lifecycle_rule_takes_this_namespaces_sites_only() -> None:
    assert [r.name for r in RULES if r.channel is None] == ["site_presence"]
    thing = topics.site_thing_name(NS, "s-9")
    assert PRESENCE.sql(NS) == (
        f"SELECT encode(*, 'base64') AS {RULE_MESSAGE_KEY}, topic({CLIENT_ID_SEGMENT}) AS {RULE_CLIENT_KEY} "
        f"FROM '$aws/events/presence/+/+' WHERE topic(1) = '$aws' AND topic(2) = 'events' AND topic(3) = 'presence' "
        f"AND startswith(topic({CLIENT_ID_SEGMENT}), 'ct--district-a--prod--')")
    topic = topics.presence_event(topics.PresenceEvent.DISCONNECTED, thing)
    assert PRESENCE.sees(NS, topic) and PRESENCE.topic_filter(NS) == topics.presence_events_filter()
    assert event_for(PRESENCE, topic, b"{}") == {RULE_CLIENT_KEY: thing, RULE_MESSAGE_KEY: "e30="}
    # another stage's site, or any other client of the account: not this rule's
    for other in (topics.site_thing_name(Namespace("district-a", "prod2"), "s-9"), "twin-iot-core", "ct--district-a"):
        assert not PRESENCE.sees(NS, topics.presence_event(topics.PresenceEvent.CONNECTED, other))
    # a site's own topics, or Basic Ingest naming the lifecycle rule (the site policy's ``classtop__*``): not an event
    own_site = topics.site_up_plain(NS, thing, topics.SiteUp.EVENTS)
    assert not PRESENCE.sees(NS, own_site)
    assert not PRESENCE.sees(NS, topics.basic_ingest(PRESENCE.full_name(NS), own_site))
    assert topics.site_of_thing(NS, thing) == "s-9"
    assert topics.site_of_thing(NS, "ct--district-a--prod--") is None
    assert topics.site_of_thing(NS, "ct--district-a--prod--a--b") == "a--b"  # a valid site id holding "--"
    assert topics.parse_presence_event(topic) == (topics.PresenceEvent.DISCONNECTED, thing)
    for bad in ("$aws/events/presence/gone/x", "$aws/events/presence/connected", "$aws/events/subscriptions/x/y"):
        with pytest.raises(TopicError):
            topics.parse_presence_event(bad)
    with pytest.raises(TopicError):
        topics.presence_event(topics.PresenceEvent.CONNECTED, "a/b")


def test_the_event_is_the_topic_site_and_the_whole_message_encoded() -> None:
    rule = RULES[0]
    assert rule.channel is not None
    payload = b'{"site_id": "other", "topic_site_id": "other"}'
    event = event_for(rule, topics.site_up(NS, "s1", rule.channel), payload)
    assert event == {RULE_SITE_KEY: "s1", RULE_MESSAGE_KEY: base64.b64encode(payload).decode()}
    assert event_for(rule, topics.site_up(NS, "s1", rule.channel), b"\xff not json")[RULE_SITE_KEY] == "s1"


@pytest.mark.parametrize(("event", "says"), [
    ({"type": "site_heartbeat", "v": 1, "timestamp": 1, "lms_version": "1", "site_id": "s1"}, "not an IoT rule event"),
    ({RULE_SITE_KEY: "s1", RULE_MESSAGE_KEY: "e30=", "site_id": "s2"}, "not an IoT rule event"),
    ({RULE_SITE_KEY: "s1", RULE_MESSAGE_KEY: "not base64!"}, "is not base64"),
    ({RULE_SITE_KEY: 7, RULE_MESSAGE_KEY: "e30="}, "must be a string"),
    ({RULE_SITE_KEY: "s/1", RULE_MESSAGE_KEY: "e30="}, "site id"),
    ({RULE_SITE_KEY: "s1", RULE_MESSAGE_KEY: "A" * 200_000}, "at most"),
    ({RULE_SITE_KEY: "s1", RULE_MESSAGE_KEY: base64.b64encode(b"\xff").decode()}, "not valid JSON"),
    ("garbage", "not an IoT rule event"),
])
def test_handlers_refuse_anything_but_a_rule_event(event: Any, says: str) -> None:
    for rule in SITE_RULES:
        outcome = RULE_HANDLERS[rule.handler](event, None)
        assert outcome["ok"] is False and says in outcome["error"]["message"], outcome


@pytest.mark.parametrize(("event", "says"), [
    ({RULE_SITE_KEY: "s1", RULE_MESSAGE_KEY: "e30="}, "not an IoT rule event"),
    ({RULE_CLIENT_KEY: "ct--a--b--s1", RULE_MESSAGE_KEY: "not base64!"}, "is not base64"),
    ({RULE_CLIENT_KEY: "ct--a--b--s1", RULE_MESSAGE_KEY: "e30="}, "not an IoT Core lifecycle event"),
    ({RULE_CLIENT_KEY: "ct--a--b--s1",
      RULE_MESSAGE_KEY: base64.b64encode(b'{"clientId": "x", "timestamp": 1, "eventType": "left"}').decode()},
     "not an IoT Core lifecycle event"),
    ({RULE_CLIENT_KEY: "ct--a--b--s1", RULE_MESSAGE_KEY: base64.b64encode(b" " * 5000).decode()}, "4 KB"),
])
def test_the_lifecycle_handler_refuses_anything_but_its_rules_event(event: Any, says: str) -> None:
    outcome = RULE_HANDLERS["site_presence"](event, None)
    assert outcome["ok"] is False and says in outcome["error"]["message"], outcome


def test_a_message_claiming_a_site_is_refused_whole() -> None:
    message = {"type": "site_heartbeat", "v": 1, "timestamp": 1, "lms_version": "1", "site_id": "s2"}
    rule = rule_for_handler("site_heartbeat")
    assert rule.channel is not None
    event = event_for(rule, topics.site_up(NS, "s1", rule.channel), json.dumps(message).encode())
    outcome = RULE_HANDLERS["site_heartbeat"](event, None)
    assert outcome["ok"] is False and "site_id" in outcome["error"]["message"]
