"""The one MQTT client wrapper used by the LMS and the agent."""

from shared.mqtt.client import Handler, IncomingMessage, MqttClient, Will
from shared.mqtt.settings import MqttSettings, TlsSettings

__all__ = ["Handler", "IncomingMessage", "MqttClient", "MqttSettings", "TlsSettings", "Will"]
