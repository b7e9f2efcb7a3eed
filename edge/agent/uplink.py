"""The agent's link to its LMS: one :class:`shared.mqtt.MqttClient` and what the agent publishes on it.

Delivery choices: presence (``status``) is QoS 1 and retained; ``state`` is QoS 1 (queued by the client
while disconnected; a fresh one is sent on every connect anyway); ``response`` and ``event`` go through the
durable :class:`~edge.agent.outbox.Outbox` (a file in ``state_dir``) and are published from there in order,
at QoS 1, surviving disconnects and agent restarts; ``heartbeat`` and ``metrics`` are QoS 0 and skipped
while disconnected (a stale sample is worth nothing later). A message published with ``durable=False``
(the periodic ClassTop snapshot, which is rebuilt on every connect) skips the outbox and is dropped while
disconnected.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import paho.mqtt.client as mqtt
from msgspec import Struct

from edge.agent.outbox import Outbox, OutboxError
from edge.agent.outbox_sender import OutboxSender
from shared.errors import MqttError
from shared.messages.enums import Severity
from shared.messages.structs import Event, Status, build, encode
from shared.mqtt import Handler, Inline, MqttClient, Will
from shared.topics import AgentUp, agent_down_filter, agent_up

if TYPE_CHECKING:
    from edge.agent.config_structs import MqttSettings

log = logging.getLogger(__name__)

_QOS: dict[AgentUp, int] = {
    AgentUp.STATUS: 1,
    AgentUp.STATE: 1,
    AgentUp.RESPONSE: 1,
    AgentUp.EVENT: 1,
    AgentUp.HEARTBEAT: 0,
    AgentUp.METRICS: 0,
}
_DURABLE = frozenset({AgentUp.RESPONSE, AgentUp.EVENT})


class Uplink:
    """Publishes the agent's messages on ``ct/agent/<id>/up/<channel>``; receives its commands."""

    def __init__(
        self,
        agent_id: str,
        settings: MqttSettings,
        *,
        last_will: Status,
        on_connected: Callable[[Uplink], None] | None = None,
        outbox: Outbox | None = None,
    ) -> None:
        self.agent_id = agent_id
        self._on_connected = on_connected
        self.outbox = outbox
        self.sender = OutboxSender(outbox, self, on_dropped=self._report_dropped) if outbox is not None else None
        self.client = MqttClient(
            settings,
            will=Will(agent_up(agent_id, AgentUp.STATUS), encode(last_will), qos=1, retain=True),
            on_connected=self._connected_hook,
            on_published=self.sender.acked if self.sender is not None else None,
            name=f"agent-{agent_id}",
        )

    def _connected_hook(self, _client: MqttClient) -> None:
        try:
            if self._on_connected is not None:
                self._on_connected(self)
        finally:
            if self.sender is not None:
                self.sender.wake()

    def _report_dropped(self, count: int) -> None:
        log.warning("the outbox dropped %d item(s) while the broker was unreachable", count)
        self.publish(
            AgentUp.EVENT,
            build(
                Event,
                timestamp=time.time(),
                kind="outbox.dropped",
                severity=Severity.WARNING,
                message=f"{count} queued result(s)/event(s) were dropped: the outbox was full",
                data={"dropped": count},
            ),
        )

    @property
    def connected(self) -> bool:
        return self.client.connected

    def on_commands(self, handler: Handler, *, inline: Inline = False) -> None:
        """``handler`` gets the agent's commands; ``inline`` as in :meth:`shared.mqtt.MqttClient.subscribe`."""
        self.client.subscribe(agent_down_filter(self.agent_id), handler, qos=1, inline=inline)

    def stop_commands(self) -> None:
        self.client.unsubscribe(agent_down_filter(self.agent_id))

    def start(self, wait_s: float) -> bool:
        """Connect in the background; wait up to ``wait_s`` for the first connection. True if connected."""
        if self.sender is not None:
            self.sender.start()
        self.client.start(wait_s=None)
        return self.client.wait_connected(wait_s) if wait_s > 0 else self.client.connected

    def publish(
        self, channel: AgentUp, message: Struct | bytes, *, retain: bool = False, durable: bool = True
    ) -> bool:
        """Publish ``message`` (a ``shared.messages.structs`` message or its bytes). False if skipped or not queued.

        ``response`` and ``event`` go through the outbox unless ``durable`` is False (then they are
        published directly, and skipped while disconnected)."""
        if channel in _DURABLE and not durable and not self.client.connected:
            return False
        payload = message if isinstance(message, bytes) else encode(message)
        if channel in _DURABLE and durable and self.outbox is not None:
            try:
                self.outbox.append(channel.value, payload)
            except OutboxError as exc:
                log.error("outbox unusable (%s): publishing %s directly", exc, channel.value)
            else:
                if self.sender is not None:
                    self.sender.pump()  # out at once from this thread; the sender thread awaits the PUBACK
                return True
        qos = _QOS[channel]
        if qos == 0 and not self.client.connected:
            return False
        try:
            self.client.publish(agent_up(self.agent_id, channel), payload, qos=qos, retain=retain)
        except MqttError as exc:
            log.error("could not publish %s: %s", channel.value, exc)
            return False
        return True

    def send(self, channel: str, payload: bytes) -> mqtt.MQTTMessageInfo | None:
        """The outbox sender's publish: QoS 1; None when the message was not accepted for sending now."""
        try:
            info = self.client.publish(agent_up(self.agent_id, AgentUp(channel)), payload, qos=1)
        except (MqttError, ValueError) as exc:
            log.error("could not publish a queued %s: %s", channel, exc)
            return None
        return info if info.rc == mqtt.MQTT_ERR_SUCCESS else None

    def drain(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the outbox to be delivered (before a clean stop)."""
        return self.sender.drain(timeout_s) if self.sender is not None else True

    def publish_and_wait(
        self, channel: AgentUp, message: Struct, *, retain: bool, timeout_s: float
    ) -> bool:
        """Publish at QoS 1 and wait for the PUBACK (used for the last words before a clean stop)."""
        if not self.client.connected:
            return False
        try:
            info = self.client.publish(agent_up(self.agent_id, channel), encode(message), qos=1, retain=retain)
            info.wait_for_publish(timeout_s)
        except (MqttError, RuntimeError, ValueError) as exc:
            log.warning("could not publish %s before stopping: %s", channel.value, exc)
            return False
        return info.is_published()

    def stop(self) -> None:
        if self.sender is not None:
            self.sender.stop()
        self.client.stop()
        if self.outbox is not None:
            self.outbox.close()
