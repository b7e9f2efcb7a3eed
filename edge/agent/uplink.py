"""The agent's link to its LMS: one :class:`shared.mqtt.MqttClient` and what the agent publishes on it.

Delivery choices: presence (``status``) is QoS 1 and retained; ``state`` and ``response`` are QoS 1 (queued
by the client while disconnected, so results reach the LMS after a reconnect); ``heartbeat`` and
``metrics`` are QoS 0 and skipped while disconnected (a stale sample is worth nothing later).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from pydantic import BaseModel

from shared.errors import MqttError
from shared.messages import Status, encode
from shared.mqtt import Handler, MqttClient, MqttSettings, Will
from shared.topics import AgentUp, agent_down_filter, agent_up

log = logging.getLogger(__name__)

_QOS: dict[AgentUp, int] = {
    AgentUp.STATUS: 1,
    AgentUp.STATE: 1,
    AgentUp.RESPONSE: 1,
    AgentUp.EVENT: 1,
    AgentUp.HEARTBEAT: 0,
    AgentUp.METRICS: 0,
}


class Uplink:
    """Publishes the agent's messages on ``ct/agent/<id>/up/<channel>``; receives its commands."""

    def __init__(
        self,
        agent_id: str,
        settings: MqttSettings,
        *,
        last_will: Status,
        on_connected: Callable[[Uplink], None] | None = None,
    ) -> None:
        self.agent_id = agent_id
        hook = (lambda _client: on_connected(self)) if on_connected is not None else None
        self.client = MqttClient(
            settings,
            will=Will(agent_up(agent_id, AgentUp.STATUS), encode(last_will), qos=1, retain=True),
            on_connected=hook,
            name=f"agent-{agent_id}",
        )

    @property
    def connected(self) -> bool:
        return self.client.connected

    def on_commands(self, handler: Handler) -> None:
        self.client.subscribe(agent_down_filter(self.agent_id), handler, qos=1)

    def stop_commands(self) -> None:
        self.client.unsubscribe(agent_down_filter(self.agent_id))

    def start(self, wait_s: float) -> bool:
        """Connect in the background; wait up to ``wait_s`` for the first connection. True if connected."""
        self.client.start(wait_s=None)
        return self.client.wait_connected(wait_s) if wait_s > 0 else self.client.connected

    def publish(self, channel: AgentUp, message: BaseModel | bytes, *, retain: bool = False) -> bool:
        """Publish ``message`` (a model or its encoded bytes). False if it was skipped or not queued."""
        qos = _QOS[channel]
        if qos == 0 and not self.client.connected:
            return False
        try:
            self.client.publish(agent_up(self.agent_id, channel), message, qos=qos, retain=retain)
        except MqttError as exc:
            log.error("could not publish %s: %s", channel.value, exc)
            return False
        return True

    def publish_and_wait(
        self, channel: AgentUp, message: BaseModel, *, retain: bool, timeout_s: float
    ) -> bool:
        """Publish at QoS 1 and wait for the PUBACK (used for the last words before a clean stop)."""
        if not self.client.connected:
            return False
        try:
            info = self.client.publish(agent_up(self.agent_id, channel), message, qos=1, retain=retain)
            info.wait_for_publish(timeout_s)
        except (MqttError, RuntimeError, ValueError) as exc:
            log.warning("could not publish %s before stopping: %s", channel.value, exc)
            return False
        return info.is_published()

    def stop(self) -> None:
        self.client.stop()
