from __future__ import annotations

import pytest

from shared import topics
from shared.errors import InvalidName, TopicError
from shared.names import Namespace
from shared.topics import AgentDown, AgentUp, Family, ShadowOp, SiteDown, SiteUp

D9 = Namespace("district-9", "prod")
D1 = Namespace("d1", "dev")


@pytest.mark.parametrize("channel", list(AgentUp))
def test_agent_up_round_trip(channel: AgentUp) -> None:
    topic = topics.agent_up("pc-101", channel)
    parsed = topics.parse(topic)
    assert parsed.family is Family.AGENT
    assert (parsed.agent_id, parsed.direction, parsed.channel) == ("pc-101", "up", channel.value)
    assert parsed.build() == topic


def test_agent_down_round_trip() -> None:
    topic = topics.agent_down("pc-101", AgentDown.COMMAND)
    assert topic == "ct/agent/pc-101/down/command"
    assert topics.parse(topic).build() == topic


@pytest.mark.parametrize("channel", list(SiteUp))
def test_site_up_round_trip(channel: SiteUp) -> None:
    topic = topics.site_up(D9, "school-1", channel)
    parsed = topics.parse(topic)
    assert (parsed.family, parsed.namespace, parsed.site_id, parsed.direction) == (
        Family.SITE,
        D9,
        "school-1",
        "up",
    )
    plain = f"ct/district-9/prod/site/school-1/up/{channel.value}"
    rule = topics.SITE_UP_RULES.get(channel)
    # every channel a rule consumes goes with Basic Ingest, to its own rule, named for the tenant's stage
    assert topic == (f"$aws/rules/classtop__district_9__prod__{rule}/{plain}" if rule else plain)
    assert parsed.basic_ingest is (rule is not None)
    assert parsed.build() == topic
    assert topics.site_up_plain(D9, "school-1", channel) == plain
    assert topics.parse(plain).build() == plain


def test_basic_ingest_topics_name_their_channels_rule() -> None:
    assert topics.split_basic_ingest("ct/d1/dev/site/s1/up/heartbeat") == (None, "ct/d1/dev/site/s1/up/heartbeat")
    heartbeat = topics.site_up(D1, "s1", SiteUp.HEARTBEAT)
    assert topics.split_basic_ingest(heartbeat) == ("classtop__d1__dev__site_heartbeat",
                                                    "ct/d1/dev/site/s1/up/heartbeat")
    # a prefix naming another channel's rule, another stage's rule or no rule is no topic of ours
    for bad in ("$aws/rules/classtop__d1__dev__site_events/ct/d1/dev/site/s1/up/heartbeat",
                "$aws/rules/classtop__d1__prod__site_heartbeat/ct/d1/dev/site/s1/up/heartbeat",
                "$aws/rules/ct/d1/dev/site/s1/up/heartbeat", "$aws/rules/", "$aws/rules/x",
                "$aws/rules/bad-name/ct/d1/dev/site/s1/up/heartbeat",
                "$aws/rules/classtop__d1__dev__site_heartbeat/ct/d1/dev/site/s1/down/command"):
        with pytest.raises(TopicError):
            topics.parse(bad)
    with pytest.raises(TopicError):
        topics.basic_ingest("no/slash", "ct/x")


def test_site_down_round_trip() -> None:
    topic = topics.site_down(D1, "s1", SiteDown.COMMAND)
    assert topic == "ct/d1/dev/site/s1/down/command"
    assert topics.parse(topic).build() == topic


@pytest.mark.parametrize("op", list(ShadowOp))
@pytest.mark.parametrize("name", [None, "pc-1"])
def test_shadow_round_trip(op: ShadowOp, name: str | None) -> None:
    thing = topics.site_thing_name(D1, "s1")
    assert thing == "ct--d1--dev--s1"
    topic = topics.shadow(thing, op, name)
    parsed = topics.parse(topic)
    assert (parsed.family, parsed.thing, parsed.shadow_name, parsed.op) == (Family.SHADOW, thing, name, op)
    assert parsed.build() == topic


@pytest.mark.parametrize("bad", ["", "a/b", "+", "#", "a+b", "-lead", "x" * 65, "sp ace", "ünï"])
def test_bad_ids_are_refused(bad: str) -> None:
    with pytest.raises(TopicError):
        topics.agent_up(bad, AgentUp.STATUS)
    with pytest.raises(TopicError):
        topics.site_down(D1, bad)


@pytest.mark.parametrize("bad", ["", "UPPER", "9lead", "a" * 21, "a_b", "a--b", "a-"])
def test_bad_tenants_are_refused(bad: str) -> None:
    with pytest.raises(InvalidName):
        Namespace(bad, "dev")
    with pytest.raises(TopicError):
        topics.parse(f"ct/{bad}/dev/site/s1/up/heartbeat")


@pytest.mark.parametrize(
    "topic",
    [
        "ct/agent/pc-1/up/nonsense",
        "ct/agent/pc-1/sideways/status",
        "ct/agent/+/up/status",
        "ct/d1/dev/site/s1/up/command",
        "ct/d1/dev/site/s1/down/results",
        "ct/d1/site/s1/up/heartbeat",
        "ct/d1/de--v/site/s1/up/heartbeat",
        "other/thing",
        "$aws/things/t/shadow/explode",
        "$aws/things/t/shadow/name",
        "",
    ],
)
def test_parser_rejects_foreign_topics(topic: str) -> None:
    with pytest.raises(TopicError):
        topics.parse(topic)


def test_filters_match_what_builders_build() -> None:
    from paho.mqtt.client import topic_matches_sub

    assert topic_matches_sub(topics.all_agents_up_filter(), topics.agent_up("a1", AgentUp.METRICS))
    assert topic_matches_sub(
        topics.all_agents_up_filter(AgentUp.STATUS), topics.agent_up("a1", AgentUp.STATUS)
    )
    assert not topic_matches_sub(
        topics.all_agents_up_filter(AgentUp.STATUS), topics.agent_up("a1", AgentUp.METRICS)
    )
    assert topic_matches_sub(topics.agent_down_filter("a1"), topics.agent_down("a1"))
    assert not topic_matches_sub(topics.agent_down_filter("a1"), topics.agent_down("a2"))
    assert topic_matches_sub(topics.site_down_filter(D1, "s1"), topics.site_down(D1, "s1"))
    assert not topic_matches_sub(topics.site_down_filter(D1, "s1"), topics.site_down(Namespace("d2", "dev"), "s1"))
    assert not topic_matches_sub(topics.site_down_filter(D1, "s1"), topics.site_down(Namespace("d1", "prod"), "s1"))
    assert topic_matches_sub(
        topics.all_sites_up_filter(D1, SiteUp.RESULTS), topics.site_up_plain(D1, "s9", SiteUp.RESULTS)
    )
    # what the rule sees of a Basic Ingest topic matches its FROM filter
    rule_sees = topics.split_basic_ingest(topics.site_up(D1, "s9", SiteUp.RESULTS))[1]
    assert topic_matches_sub(topics.all_sites_up_filter(D1, SiteUp.RESULTS), rule_sees)
    thing = topics.site_thing_name(D1, "s1")
    assert topic_matches_sub(
        topics.shadow_filter(thing), topics.shadow(thing, ShadowOp.UPDATE_DELTA, "a1")
    )


def test_agent_settings_shadow_names_round_trip() -> None:
    assert topics.agent_of_shadow(topics.agent_shadow_name("pc-01")) == "pc-01"
    for other in (None, "", "lms:config", "cctv:pc-01", "bad/id", "-lead", "x" * 65):
        assert topics.agent_of_shadow(other) is None


def test_every_agent_id_fits_a_shadow_name() -> None:
    """AWS named shadows: 1-64 of ``[a-zA-Z0-9:_-]``; the longest agent id is a valid shadow name."""
    longest = "A" + "b-_9" * 15 + "xyz"
    assert len(longest) == 64 and topics.is_valid_id(longest)
    thing = topics.site_thing_name(D1, "s1")
    assert topics.parse(topics.shadow(thing, ShadowOp.UPDATE, topics.agent_shadow_name(longest))).shadow_name == longest


def test_camera_shadow_names_round_trip_and_fit() -> None:
    """``cctv:{agent_id}``; an id too long for that is hashed, still unique, and resolved among the known agents."""
    thing = topics.site_thing_name(D1, "s1")
    assert topics.cctv_shadow_name("pc-01") == "cctv:pc-01"
    assert topics.agent_of_cctv_shadow("cctv:pc-01") == "pc-01" and topics.agent_of_shadow("cctv:pc-01") is None
    longest = "A" + "b-_9" * 15 + "xyz"
    twin = longest[:-1] + "Z"  # the same first 63 characters
    names = {topics.cctv_shadow_name(a) for a in (longest, twin, "x" * 59, "x" * 60)}
    assert len(names) == 4 and all(len(n) <= 64 for n in names)
    for agent_id in (longest, twin, "x" * 59, "x" * 60):
        name = topics.cctv_shadow_name(agent_id)
        assert topics.parse(topics.shadow(thing, ShadowOp.GET_ACCEPTED, name)).shadow_name == name
        assert topics.agent_of_cctv_shadow(name, [longest, twin, "x" * 60]) == agent_id
        assert topics.is_cctv_shadow(name) and topics.agent_of_shadow(name) is None
    assert topics.agent_of_cctv_shadow(topics.cctv_shadow_name(longest)) is None  # hashed, nobody known
    for other in (None, "", "lms:config", "pc-01", "cctv:", "cctv:bad/id"):
        assert topics.agent_of_cctv_shadow(other, ["pc-01"]) is None
