"""The rules of the MQTT settings, pydantic-free: ``shared.mqtt.settings`` (pydantic) and the agent's msgspec
mirrors (``edge/agent/config_structs.py``) both call them, so the agent checks its config without pydantic."""

from __future__ import annotations

import ipaddress
from typing import Any


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (``localhost``, 127.0.0.0/8, ``::1``): no other host reaches it."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def tls_pair(tls: Any) -> None:
    """``TlsSettings``: a client certificate and its key go together."""
    if (tls.cert_file is None) != (tls.key_file is None):
        raise ValueError("cert_file and key_file go together")


def reconnect_bounds(mqtt: Any) -> None:
    """``MqttSettings``: the reconnect delay cap is not below its first bound."""
    if mqtt.reconnect_max_s < mqtt.reconnect_min_s:
        raise ValueError("reconnect_max_s must be >= reconnect_min_s")
