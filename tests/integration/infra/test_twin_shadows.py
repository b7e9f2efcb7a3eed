"""The twin's device shadows with the project's own documents (``shared.messages.shadow``): the cloud's production
``IotShadowStore`` against the twin's shadow REST API (``infra/local/shadow_api.py``), a device-side paho probe on
AWS's reserved shadow topics of the IoT Core stand-in broker. (What AWS documents, driven by AWS's own SDK:
``test_shadow_conformance.py``.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from chalicelib.adapters.shadows import IotShadowStore
from shared import topics
from shared.messages.shadow import SettingsDelta, SettingsShadow, desired_update, reported_update
from shared.names import Namespace
from shared.topics import ShadowOp
from tests.fixtures.brokers import MqttProbe, Received
from tests.integration.infra.shadow_twin import ShadowTwin, shadow_twin  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration

THING = topics.site_thing_name(Namespace("demo", "dev"), "s1")
SHADOW = topics.agent_shadow_name("pc-1")


@dataclass
class Twin:
    store: IotShadowStore
    device: MqttProbe

    def topic(self, op: ShadowOp, shadow: str = SHADOW) -> str:
        return topics.shadow(THING, op, shadow)

    def request(self, op: ShadowOp, payload: bytes, reply: ShadowOp, shadow: str = SHADOW) -> Received:
        """Publish a device request and wait for the reply on ``reply``."""
        self.device.publish(self.topic(op, shadow), payload, qos=1)
        return self.device.wait_for(self.topic(reply, shadow))


@pytest.fixture
def twin(shadow_twin: ShadowTwin) -> Iterator[Twin]:  # noqa: F811
    device = shadow_twin.broker.client(client_id="lms-s1")
    device.subscribe(topics.shadow_filter(THING))
    yield Twin(shadow_twin.cloud, device)


def _json(received: Received) -> dict:  # type: ignore[type-arg]
    doc = json.loads(received.payload)
    assert isinstance(doc, dict)
    return doc


def test_get_of_a_missing_shadow_is_rejected_404(twin: Twin) -> None:
    reply = twin.request(ShadowOp.GET, json.dumps({"clientToken": "t-1"}).encode(), ShadowOp.GET_REJECTED)
    assert _json(reply) | {"timestamp": 0} == {
        "code": 404,
        "message": f"No shadow exists with name: '{SHADOW}'",
        "clientToken": "t-1",
        "timestamp": 0,
    }


def test_settings_round_trip_cloud_desired_device_reported(twin: Twin) -> None:
    # The cloud (district admin) writes desired: the device hears the delta of exactly the differing keys.
    twin.store.update(THING, SHADOW, desired_update({"volume": "40", "kiosk": "true"}, client_token="c-1"))
    # (IoT Core's order: accepted, documents, delta)
    accepted = _json(twin.device.wait_for(twin.topic(ShadowOp.UPDATE_ACCEPTED)))
    assert accepted["clientToken"] == "c-1" and accepted["version"] == 1
    documents = _json(twin.device.wait_for(twin.topic(ShadowOp.UPDATE_DOCUMENTS)))
    assert documents["previous"] is None
    assert SettingsShadow.model_validate(documents["current"]).state.desired == {"volume": "40", "kiosk": "true"}
    delta = SettingsDelta.model_validate_json(twin.device.wait_for(twin.topic(ShadowOp.UPDATE_DELTA)).payload)
    assert delta.state == {"volume": "40", "kiosk": "true"}
    assert delta.version == 1

    # The device (LMS) applies one key and reports it: accepted, and the delta now holds only the other key.
    report = reported_update({"volume": "40"}, client_token="d-1")
    reply = twin.request(ShadowOp.UPDATE, report, ShadowOp.UPDATE_ACCEPTED)
    accepted_doc = SettingsShadow.model_validate_json(reply.payload)
    assert accepted_doc.state.reported == {"volume": "40"} and accepted_doc.version == 2
    assert _json(reply)["clientToken"] == "d-1"
    got = SettingsShadow.model_validate_json(twin.request(ShadowOp.GET, b"", ShadowOp.GET_ACCEPTED).payload)
    assert got.state.delta == {"kiosk": "true"} and got.version == 2

    # A second desired change only announces what still differs, with the new version.
    twin.store.update(THING, SHADOW, desired_update({"volume": "40", "kiosk": None}))
    twin.store.update(THING, SHADOW, desired_update({"volume": "55"}))
    delta = SettingsDelta.model_validate_json(
        twin.device.wait_for(
            lambda m: m.topic == twin.topic(ShadowOp.UPDATE_DELTA) and json.loads(m.payload)["version"] == 4
        ).payload
    )
    assert delta.state == {"volume": "55"}

    # Reporting everything: accepted, and a following get shows no delta at all.
    twin.request(ShadowOp.UPDATE, reported_update({"volume": "55"}), ShadowOp.UPDATE_ACCEPTED)
    reply = twin.request(ShadowOp.GET, json.dumps({"clientToken": "g-1"}).encode(), ShadowOp.GET_ACCEPTED)
    got = SettingsShadow.model_validate_json(reply.payload)
    assert got.state.desired == {"volume": "55"} and got.state.reported == {"volume": "55"}
    assert got.state.delta is None and "delta" not in _json(reply)["state"]
    assert got.version == 5 and _json(reply)["clientToken"] == "g-1"
    # a reported-only update never announces a delta
    deltas = [m for m in twin.device.messages if m.topic == twin.topic(ShadowOp.UPDATE_DELTA)]
    assert [json.loads(m.payload)["version"] for m in deltas] == [1, 4]


def test_device_desired_update_publishes_delta(twin: Twin) -> None:
    shadow = topics.agent_shadow_name("pc-2")
    twin.request(ShadowOp.UPDATE, reported_update({"a": "1"}), ShadowOp.UPDATE_ACCEPTED, shadow)
    twin.device.publish(twin.topic(ShadowOp.UPDATE, shadow), desired_update({"a": "1", "b": "2"}))
    delta = SettingsDelta.model_validate_json(twin.device.wait_for(twin.topic(ShadowOp.UPDATE_DELTA, shadow)).payload)
    assert delta.state == {"b": "2"} and delta.version == 2
