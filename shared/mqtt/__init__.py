"""The one MQTT client wrapper used by the LMS and the agent."""

from shared.mqtt.client import NO_MATCHING_SUBSCRIBERS, Handler, IncomingMessage, Inline, MqttClient, Will
from shared.mqtt.settings import MqttSettings, TlsSettings, is_loopback

__all__ = [
    "NO_MATCHING_SUBSCRIBERS",
    "Handler",
    "IncomingMessage",
    "Inline",
    "MqttClient",
    "MqttSettings",
    "TlsSettings",
    "Will",
    "is_loopback",
]
