"""The IoT Core stand-in's lifecycle events (a real Mosquitto, ``template="iot-core"``, and
``infra/local/lifecycle_events.py``): ``$aws/events/presence/{connected|disconnected}/{clientId}`` as AWS publishes
them, telling a clean disconnection from a lost connection, a keep-alive timeout and a duplicate client id; and no
site can publish one itself."""

from __future__ import annotations

import json
import queue
import shutil
import ssl
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.lms.enrolment.broker_credentials import DynsecControl
from infra.aws.policy_eval import IotPolicy
from infra.local.iot_access import (
    ADMIN_CLIENT,
    LIFECYCLE_CLIENT,
    RULES_CLIENT,
    StandInAccess,
    iot_core_settings,
    site_policy,
    stand_in_broker,
)
from infra.local.iot_ca import IotCa
from infra.local.lifecycle_events import LifecycleEvents
from infra.local.mosquitto import MosquittoProcess
from shared import topics
from shared.messages.iot_presence import LifecycleEvent
from shared.mqtt import IncomingMessage, MqttClient
from shared.names import Namespace
from tests.fixtures.iot_core import NOT_AUTHORIZED, MtlsProbe, SiteCertificate, site_certificate

pytestmark = pytest.mark.integration

NS = Namespace("demo", "dev")
SITE = "school-1"
THING = topics.site_thing_name(NS, SITE)


@dataclass
class StandIn:
    broker: MosquittoProcess
    ca: IotCa
    site: SiteCertificate
    events: queue.Queue[tuple[str, dict[str, Any]]]

    def probe(self) -> MtlsProbe:
        return MtlsProbe(self.broker.port, self.ca.ca_file, self.site.cert_file, self.site.key_file, client_id=THING)

    def raw_client(self, keepalive: int = 30) -> mqtt.Client:
        """A paho client with the site's certificate, connected, its network loop driven by the test."""
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=THING, protocol=mqtt.MQTTv5)
        client.tls_set(ca_certs=str(self.ca.ca_file), certfile=str(self.site.cert_file),
                       keyfile=str(self.site.key_file), cert_reqs=ssl.CERT_REQUIRED)  # fmt: skip
        client.connect(self.broker.host, self.broker.port, keepalive=keepalive)
        client.loop(timeout=1.0)  # CONNECT out, CONNACK in
        return client

    def next_event(self, timeout_s: float = 10.0) -> tuple[str, dict[str, Any]]:
        return self.events.get(timeout=timeout_s)

    def drain(self) -> None:
        while not self.events.empty():
            self.events.get_nowait()


@pytest.fixture(scope="module")
def stand_in() -> Iterator[StandIn]:
    workdir = Path(tempfile.mkdtemp(prefix="ct-iot-lifecycle-"))
    workdir.chmod(0o755)
    iot_dir = workdir / "iot"
    broker, ca = stand_in_broker(workdir / "broker", iot_dir)
    control: DynsecControl | None = None
    lifecycle: LifecycleEvents | None = None
    watcher: MqttClient | None = None
    try:
        broker.start()
        control = DynsecControl(iot_core_settings(iot_dir, ADMIN_CLIENT, broker.host, broker.port))
        control.start()
        assert StandInAccess(control, IotPolicy(site_policy(NS))).grant_site(THING, {"site_id": SITE})
        site = site_certificate(ca, workdir, THING)
        lifecycle = LifecycleEvents(iot_core_settings(iot_dir, LIFECYCLE_CLIENT, broker.host, broker.port)).start()
        events: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()

        def seen(msg: IncomingMessage) -> None:
            if msg.topic.endswith("/" + THING):  # the stand-in's own clients have theirs too
                events.put((msg.topic, json.loads(msg.payload)))

        # an observer as the rules engine is (privileged, inside "IoT Core")
        watcher = MqttClient(iot_core_settings(iot_dir, RULES_CLIENT, broker.host, broker.port), name="watcher")
        watcher.subscribe(topics.presence_events_filter(), seen, qos=1)
        watcher.start(wait_s=10)
        yield StandIn(broker, ca, site, events)
    finally:
        for part in (watcher, lifecycle, control):
            if part is not None:
                part.stop()
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def connected(stand_in: StandIn) -> LifecycleEvent:
    topic, body = stand_in.next_event()
    assert topic == topics.presence_event(topics.PresenceEvent.CONNECTED, THING)
    event = LifecycleEvent.model_validate(body)
    assert event.event_type == "connected" and event.client_id == THING and event.ip_address == "127.0.0.1"
    assert "disconnectReason" not in body and event.session_identifier
    return event


def disconnected(stand_in: StandIn) -> tuple[LifecycleEvent, dict[str, Any]]:
    topic, body = stand_in.next_event()
    assert topic == topics.presence_event(topics.PresenceEvent.DISCONNECTED, THING)
    event = LifecycleEvent.model_validate(body)
    assert event.event_type == "disconnected" and "ipAddress" not in body
    return event, body


def test_a_clean_disconnection_is_client_initiated(stand_in: StandIn) -> None:
    stand_in.drain()
    probe = stand_in.probe()
    assert probe.connect()
    up = connected(stand_in)
    probe.close()  # MQTT DISCONNECT
    down, body = disconnected(stand_in)
    assert body["disconnectReason"] == "CLIENT_INITIATED_DISCONNECT" and body["clientInitiatedDisconnect"] is True
    # the disconnection is the same connection's: its version and session, later in time
    assert (down.version_number, down.session_identifier) == (up.version_number, up.session_identifier)
    assert down.order() > up.order()


def test_a_dropped_connection_is_connection_lost(stand_in: StandIn) -> None:
    stand_in.drain()
    client = stand_in.raw_client()
    up = connected(stand_in)
    sock = client.socket()
    assert sock is not None
    sock.close()  # no DISCONNECT: the link just went
    down, body = disconnected(stand_in)
    assert body["disconnectReason"] == "CONNECTION_LOST" and body["clientInitiatedDisconnect"] is False
    assert down.version_number == up.version_number


def test_a_silent_client_times_out_on_its_keep_alive(stand_in: StandIn) -> None:
    stand_in.drain()
    client = stand_in.raw_client(keepalive=1)
    connected(stand_in)
    _down, body = disconnected(stand_in)  # no PINGREQ: the broker gives up after 1.5 keep-alives
    assert body["disconnectReason"] == "MQTT_KEEP_ALIVE_TIMEOUT" and body["clientInitiatedDisconnect"] is False
    client.socket().close()  # type: ignore[union-attr]


def test_a_second_connection_with_the_client_id_takes_over(stand_in: StandIn) -> None:
    stand_in.drain()
    first = stand_in.probe()
    assert first.connect()
    old = connected(stand_in)
    second = stand_in.probe()
    assert second.connect()
    down, body = disconnected(stand_in)
    assert body["disconnectReason"] == "DUPLICATE_CLIENTID" and down.version_number == old.version_number
    new = connected(stand_in)
    assert new.version_number == old.version_number + 1 and new.order() > down.order()
    second.close()
    assert disconnected(stand_in)[1]["disconnectReason"] == "CLIENT_INITIATED_DISCONNECT"
    first.client.loop_stop()


def test_no_site_can_publish_a_lifecycle_event(stand_in: StandIn) -> None:
    probe = stand_in.probe()
    assert probe.connect()
    try:
        for event in topics.PresenceEvent:
            forged = json.dumps({"clientId": THING, "timestamp": 1, "eventType": event.value}).encode()
            assert probe.publish(topics.presence_event(event, THING), forged) == NOT_AUTHORIZED
        assert probe.publish(topics.broker_notice_log(), b"1: Client x disconnected.") == NOT_AUTHORIZED
        assert probe.subscribe(topics.broker_notice_log()) == NOT_AUTHORIZED
    finally:
        probe.close()
