"""The twin's IoT publisher: the production boto3 ``iot-data`` adapter (pointed at moto) plus what IoT Core
would then do and moto does not — deliver the message to subscribers, here on the stand-in Mosquitto."""

from __future__ import annotations

from typing import Protocol

from shared.mqtt import MqttClient


class Publisher(Protocol):
    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None: ...


class TwinPublisher:
    def __init__(self, inner: Publisher, mqtt: MqttClient) -> None:
        self._inner = inner
        self._mqtt = mqtt

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        self._inner.publish(topic, payload, qos)  # same call, same errors as in AWS
        self._mqtt.publish(topic, payload, qos=qos)
