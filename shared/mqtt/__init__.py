"""The one MQTT client wrapper used by the LMS and the agent.

The settings models (pydantic) load when first named: an idle agent never loads pydantic (edge/agent/footprint.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.mqtt.checks import is_loopback
from shared.mqtt.client import NO_MATCHING_SUBSCRIBERS, MqttClient
from shared.mqtt.client_settings import Will
from shared.mqtt.subscription import Handler, IncomingMessage, Inline

if TYPE_CHECKING:
    from shared.mqtt.settings import MqttSettings, TlsSettings


def __getattr__(name: str) -> Any:
    if name in ("MqttSettings", "TlsSettings"):
        from shared.mqtt import settings

        return getattr(settings, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
