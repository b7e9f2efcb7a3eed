"""The LMS configuration shadow's name and documents (``shared.topics``, ``shared.messages.lms_config``), and the
configuration versions LMSs and agents report (``shared.config_version``, ``Status``, ``SiteHeartbeat``)."""

from __future__ import annotations

import json

import pytest
from pydantic import SecretStr, ValidationError

from shared import topics
from shared.config_version import cloud_config_version, local_config_version
from shared.messages import AgentPresence, SiteHeartbeat, Status, decode, encode
from shared.messages.lms_config import LmsConfigDocuments, LmsConfigOverlay, LmsConfigShadow, lms_config_update
from shared.messages.shadow import MAX_SHADOW_STATE_BYTES
from shared.mqtt import MqttSettings
from shared.names import Namespace
from shared.topics import Family, ShadowOp

THING = topics.site_thing_name(Namespace("demo", "dev"), "s1")


def test_the_lms_config_shadow_is_no_agent_and_round_trips() -> None:
    name = topics.lms_config_shadow_name()
    assert topics.is_lms_config_shadow(name) and topics.agent_of_shadow(name) is None
    assert not topics.is_lms_config_shadow("pc-1")
    for op in ShadowOp:
        topic = topics.shadow(THING, op, name)
        parsed = topics.parse(topic)
        assert parsed.family is Family.SHADOW and parsed.shadow_name == name and parsed.op is op
        assert parsed.build() == topic


def test_documents_read_what_aws_sends_and_ignore_its_extras() -> None:
    raw = {"state": {"desired": {"site_heartbeat_s": 5}, "reported": {"site_heartbeat_s": 30, "config_status": {
        "state": "rejected", "version": 4, "reason": "no", "extra": 1}}}, "metadata": {}, "version": 7, "timestamp": 1}
    doc = LmsConfigShadow.model_validate(raw)
    status = doc.status()
    assert doc.version == 7 and status is not None and status.state == "rejected" and status.reason == "no"
    assert LmsConfigShadow.model_validate({"state": {"reported": {"config_status": "bad"}}}).status() is None
    assert LmsConfigDocuments.model_validate({"previous": None, "current": raw}).current == doc


def test_the_overlay_is_strict_and_closed() -> None:
    LmsConfigOverlay.model_validate({"site_heartbeat_s": 5, "classtop": {"max_clients": 10}})
    bads: list[dict[str, object]] = [{"site_heartbeat_s": "5"}, {"classtop": {"max_clients": 1.5}}, {"tenant": "x"},
                                     {"cloud": {}}]
    for bad in bads:
        with pytest.raises(ValidationError):
            LmsConfigOverlay.model_validate(bad)


def test_updates_are_bounded_and_finite() -> None:
    assert json.loads(lms_config_update("desired", {"log_level": None}, version=3)) == {
        "state": {"desired": {"log_level": None}}, "version": 3}
    with pytest.raises(ValueError):
        lms_config_update("reported", {"x": "y" * MAX_SHADOW_STATE_BYTES})
    with pytest.raises(ValueError):
        lms_config_update("reported", {"site_heartbeat_s": float("nan")})


def test_config_versions() -> None:
    one = MqttSettings(host="127.0.0.1", client_id="c", password=SecretStr("secret-1"))
    two = MqttSettings(host="127.0.0.1", client_id="c", password=SecretStr("secret-2"))
    assert local_config_version(one).startswith("local:") and len(local_config_version(one)) == len("local:") + 12
    assert local_config_version(one) == local_config_version(two)  # secrets are masked: not in the hash
    assert local_config_version(one) != local_config_version(MqttSettings(host="127.0.0.2", client_id="c"))
    assert cloud_config_version(12) == "cloud:12"


def test_versions_travel_additively() -> None:
    status = decode(Status, encode(Status(state="online", timestamp=1, version="1.0", config_version="local:ab")))
    assert status.config_version == "local:ab"
    assert decode(Status, b'{"v":1,"type":"status","state":"online","timestamp":1}').config_version is None  # old
    beat = SiteHeartbeat(timestamp=1, lms_version="1.0", lms_config_version="cloud:3",
                         agents=[AgentPresence(agent_id="a1", status="online", config_version="local:ab")])
    again = decode(SiteHeartbeat, encode(beat))
    assert again.lms_config_version == "cloud:3" and again.agents[0].config_version == "local:ab"
    with pytest.raises(ValueError):
        SiteHeartbeat(timestamp=1, lms_version="1.0", lms_config_version="x" * 65)
