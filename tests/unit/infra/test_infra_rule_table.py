"""The rule table's SQL and the event the twin builds from it; the rule handlers take nothing else (item 15)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from chalicelib.handlers import RULE_HANDLERS
from chalicelib.handlers.events import RULE_MESSAGE_KEY, RULE_SITE_KEY
from infra.aws.rules import RULES, SITE_ID_SEGMENT, event_for, rule_for_handler
from shared import topics
from shared.names import Namespace

NS = Namespace("district-a", "prod")


def test_the_sql_selects_only_functions_of_the_message_and_topic() -> None:
    for rule in RULES:
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

    assert {rule.channel: rule.name for rule in RULES} == topics.SITE_UP_RULES
    for rule in RULES:
        sent = topics.site_up(NS, "s-9", rule.channel)
        assert sent.startswith(f"$aws/rules/{rule.full_name(NS)}/ct/district-a/prod/site/s-9/up/")
        assert topic_matches_sub(rule.basic_ingest_filter(NS), sent)
        assert not any(topic_matches_sub(other.basic_ingest_filter(NS), sent) for other in RULES if other is not rule)
        assert event_for(rule, sent, b"{}")[RULE_SITE_KEY] == "s-9"
        assert event_for(rule, topics.site_up_plain(NS, "s-9", rule.channel), b"{}")[RULE_SITE_KEY] == "s-9"


def test_the_event_is_the_topic_site_and_the_whole_message_encoded() -> None:
    rule = RULES[0]
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
    for handler in RULE_HANDLERS.values():
        outcome = handler(event, None)
        assert outcome["ok"] is False and says in outcome["error"]["message"], outcome


def test_a_message_claiming_a_site_is_refused_whole() -> None:
    message = {"type": "site_heartbeat", "v": 1, "timestamp": 1, "lms_version": "1", "site_id": "s2"}
    rule = rule_for_handler("site_heartbeat")
    event = event_for(rule, topics.site_up(NS, "s1", rule.channel), json.dumps(message).encode())
    outcome = RULE_HANDLERS["site_heartbeat"](event, None)
    assert outcome["ok"] is False and "site_id" in outcome["error"]["message"]
