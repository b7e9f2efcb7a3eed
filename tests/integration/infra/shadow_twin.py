"""The twin's Device Shadow service for tests: the shadows, their MQTT side on a real IoT Core stand-in broker,
the ``iot-data`` REST API with the cloud's production boto3 adapter pointed at it, and devices driving it with
the unmodified AWS IoT Device SDK v2 (``awsiot.iotshadow.IotShadowClient`` over an awscrt connection).

:func:`connect_device` is the one place a test device connects to the stand-in broker (switch it there when the
stand-in requires client certificates).
"""

from __future__ import annotations

import queue
import secrets
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from awscrt import io, mqtt
from awsiot import iotshadow

from chalicelib.adapters.shadows import IotShadowStore
from infra.local.shadow_api import ShadowApi
from infra.local.shadow_documents import ShadowDocuments
from infra.local.shadows import ShadowService
from shared.mqtt import MqttClient, MqttSettings
from tests.fixtures.brokers import Broker
from tests.fixtures.clock import Clock

TIMEOUT_S = 10.0
REGION = "us-east-1"


def connect_device(broker: Broker, client_id: str) -> mqtt.Connection:
    """An awscrt MQTT 3.1.1 connection of a device to the broker the shadow service answers on: here the
    integration tests' plain broker (the same service code; the twin's mutual-TLS stand-in is exercised by the e2e
    tests, ``tests/e2e/test_iot_core_stand_in_twin.py``; docs/field-notes.md#awsiotsdk--awscrt)."""
    bootstrap = io.ClientBootstrap(io.EventLoopGroup(1), io.DefaultHostResolver(io.EventLoopGroup(1)))
    connection = mqtt.Connection(
        client=mqtt.Client(bootstrap, None), host_name=broker.host, port=broker.port, client_id=client_id,
        clean_session=True, keep_alive_secs=30, disable_metrics=True,
    )  # fmt: skip
    connection.connect().result(TIMEOUT_S)
    return connection


@dataclass
class Reply:
    """One message the service sent: ``kind`` is the topic's operation (``update/accepted``, ``get/rejected``...),
    ``body`` the SDK's model of it."""

    kind: str
    body: Any


@dataclass
class SdkShadow:
    """One shadow (``name`` None: the thing's classic shadow) driven through ``IotShadowClient``: subscribed to
    every reply topic of the shadow, each reply queued."""

    client: iotshadow.IotShadowClient
    connection: mqtt.Connection
    thing: str
    name: str | None
    replies: queue.Queue[Reply] = field(default_factory=queue.Queue)

    def subscribe(self) -> SdkShadow:
        c, thing, name = self.client, self.thing, self.name
        subscriptions: list[tuple[Callable[..., tuple[Future[Any], str]], Any, str]]
        if name is None:
            subscriptions = [
                (c.subscribe_to_update_shadow_accepted, iotshadow.UpdateShadowSubscriptionRequest(thing_name=thing),
                 "update/accepted"),
                (c.subscribe_to_update_shadow_rejected, iotshadow.UpdateShadowSubscriptionRequest(thing_name=thing),
                 "update/rejected"),
                (c.subscribe_to_shadow_delta_updated_events,
                 iotshadow.ShadowDeltaUpdatedSubscriptionRequest(thing_name=thing), "update/delta"),
                (c.subscribe_to_shadow_updated_events, iotshadow.ShadowUpdatedSubscriptionRequest(thing_name=thing),
                 "update/documents"),
                (c.subscribe_to_get_shadow_accepted, iotshadow.GetShadowSubscriptionRequest(thing_name=thing),
                 "get/accepted"),
                (c.subscribe_to_get_shadow_rejected, iotshadow.GetShadowSubscriptionRequest(thing_name=thing),
                 "get/rejected"),
                (c.subscribe_to_delete_shadow_accepted, iotshadow.DeleteShadowSubscriptionRequest(thing_name=thing),
                 "delete/accepted"),
                (c.subscribe_to_delete_shadow_rejected, iotshadow.DeleteShadowSubscriptionRequest(thing_name=thing),
                 "delete/rejected"),
            ]  # fmt: skip
        else:
            named = {"thing_name": thing, "shadow_name": name}
            subscriptions = [
                (c.subscribe_to_update_named_shadow_accepted, iotshadow.UpdateNamedShadowSubscriptionRequest(**named),
                 "update/accepted"),
                (c.subscribe_to_update_named_shadow_rejected, iotshadow.UpdateNamedShadowSubscriptionRequest(**named),
                 "update/rejected"),
                (c.subscribe_to_named_shadow_delta_updated_events,
                 iotshadow.NamedShadowDeltaUpdatedSubscriptionRequest(**named), "update/delta"),
                (c.subscribe_to_named_shadow_updated_events, iotshadow.NamedShadowUpdatedSubscriptionRequest(**named),
                 "update/documents"),
                (c.subscribe_to_get_named_shadow_accepted, iotshadow.GetNamedShadowSubscriptionRequest(**named),
                 "get/accepted"),
                (c.subscribe_to_get_named_shadow_rejected, iotshadow.GetNamedShadowSubscriptionRequest(**named),
                 "get/rejected"),
                (c.subscribe_to_delete_named_shadow_accepted, iotshadow.DeleteNamedShadowSubscriptionRequest(**named),
                 "delete/accepted"),
                (c.subscribe_to_delete_named_shadow_rejected, iotshadow.DeleteNamedShadowSubscriptionRequest(**named),
                 "delete/rejected"),
            ]  # fmt: skip
        for subscribe, request, kind in subscriptions:
            future, _topic = subscribe(request, mqtt.QoS.AT_LEAST_ONCE, self._collector(kind))
            future.result(TIMEOUT_S)
        return self

    def _collector(self, kind: str) -> Callable[[Any], None]:
        def collect(body: Any) -> None:
            self.replies.put(Reply(kind, body))

        return collect

    # ------------------------------------------------------------ requests through the SDK

    def update(self, state: iotshadow.ShadowState, *, token: str | None = None, version: int | None = None) -> None:
        common = {"thing_name": self.thing, "state": state, "client_token": token, "version": version}
        if self.name is None:
            self.client.publish_update_shadow(iotshadow.UpdateShadowRequest(**common), mqtt.QoS.AT_LEAST_ONCE)
        else:
            request = iotshadow.UpdateNamedShadowRequest(shadow_name=self.name, **common)
            self.client.publish_update_named_shadow(request, mqtt.QoS.AT_LEAST_ONCE)

    def get(self, *, token: str | None = None) -> None:
        if self.name is None:
            request = iotshadow.GetShadowRequest(thing_name=self.thing, client_token=token)
            self.client.publish_get_shadow(request, mqtt.QoS.AT_LEAST_ONCE)
        else:
            named = iotshadow.GetNamedShadowRequest(thing_name=self.thing, shadow_name=self.name, client_token=token)
            self.client.publish_get_named_shadow(named, mqtt.QoS.AT_LEAST_ONCE)

    def delete(self, *, token: str | None = None) -> None:
        if self.name is None:
            request = iotshadow.DeleteShadowRequest(thing_name=self.thing, client_token=token)
            self.client.publish_delete_shadow(request, mqtt.QoS.AT_LEAST_ONCE)
        else:
            named = iotshadow.DeleteNamedShadowRequest(thing_name=self.thing, shadow_name=self.name,
                                                       client_token=token)  # fmt: skip
            self.client.publish_delete_named_shadow(named, mqtt.QoS.AT_LEAST_ONCE)

    def publish_raw(self, op: str, payload: bytes) -> None:
        """A request the SDK cannot build (malformed on purpose), on the same connection."""
        prefix = f"$aws/things/{self.thing}/shadow" + (f"/name/{self.name}" if self.name is not None else "")
        future, _ = self.connection.publish(f"{prefix}/{op}", payload, mqtt.QoS.AT_LEAST_ONCE)
        future.result(TIMEOUT_S)

    # ------------------------------------------------------------ replies

    def next(self, *kinds: str) -> Reply:
        """The next reply of one of ``kinds`` (others are dropped: tests ask for what they expect in order)."""
        while True:
            reply = self.replies.get(timeout=TIMEOUT_S)
            if reply.kind in kinds:
                return reply

    def answer(self, op: str) -> Reply:
        """The accepted or rejected answer to the last ``op`` request."""
        return self.next(f"{op}/accepted", f"{op}/rejected")

    def accepted(self, op: str) -> Any:
        reply = self.answer(op)
        assert reply.kind == f"{op}/accepted", f"{op} rejected: {reply.body.code} {reply.body.message}"
        return reply.body

    def rejected(self, op: str) -> iotshadow.ErrorResponse:
        reply = self.answer(op)
        assert reply.kind == f"{op}/rejected", f"{op} accepted: {reply.body}"
        body: iotshadow.ErrorResponse = reply.body
        return body

    def pending(self) -> list[Reply]:
        out: list[Reply] = []
        while not self.replies.empty():
            out.append(self.replies.get_nowait())
        return out


@dataclass
class ShadowTwin:
    """The twin's Device Shadow service on ``broker`` (a hand-set ``clock``) plus the SDK's devices."""

    broker: Broker
    clock: Clock
    documents: ShadowDocuments
    service: ShadowService
    api: ShadowApi
    cloud: IotShadowStore  # the cloud's production adapter, against the REST API
    data: Any  # a raw boto3 iot-data client against the REST API (for error codes)
    connections: list[mqtt.Connection] = field(default_factory=list)

    def device(self, thing: str, name: str | None) -> SdkShadow:
        connection = connect_device(self.broker, f"device-{secrets.token_hex(4)}")
        self.connections.append(connection)
        return SdkShadow(iotshadow.IotShadowClient(connection), connection, thing, name).subscribe()

    def close(self) -> None:
        for connection in self.connections:
            connection.disconnect().result(TIMEOUT_S)


@pytest.fixture
def shadow_twin(cloud_broker: Broker) -> Iterator[ShadowTwin]:
    clock = Clock(1_700_000_000.0)
    documents = ShadowDocuments(clock)
    mqtt_client = MqttClient(MqttSettings(host=cloud_broker.host, port=cloud_broker.port, client_id="local-cloud"))
    service = ShadowService(documents, mqtt_client)
    service.start()  # registered before the connect: subscribed on connect
    mqtt_client.start(wait_s=TIMEOUT_S)
    api = ShadowApi(documents, service.notifier)
    api.start()
    session = boto3.Session(region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")
    data = session.client("iot-data", endpoint_url=api.url)
    twin = ShadowTwin(cloud_broker, clock, documents, service, api, IotShadowStore(data), data)
    try:
        yield twin
    finally:
        twin.close()
        api.stop()
        service.stop()
        mqtt_client.stop()
