"""What a subscription of :class:`~shared.mqtt.client.MqttClient` hands its handler (:class:`IncomingMessage`), and
where the handler runs (:data:`Inline`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    #: the acknowledgement a ``hold_ack`` subscription's handler must call once (None: nothing to acknowledge)
    ack: Callable[[], None] | None = field(default=None, compare=False, repr=False)


Handler = Callable[[IncomingMessage], None]
#: Whether a handler runs inline on the network thread: always (True), never (False), or per message.
Inline = bool | Callable[[IncomingMessage], bool]
