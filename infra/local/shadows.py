"""The twin's device shadows on the stand-in broker: what IoT Core's Device Shadow service does over MQTT.

The documents and their rules are :class:`infra.local.shadow_documents.ShadowDocuments` (AWS's merge, per-leaf
metadata, versions, limits and error codes); this module is their MQTT side, shared with the ``iot-data`` HTTP
API (``infra/local/shadow_api.py``) so that a change made either way is announced the same way:

* :class:`ShadowNotifier` publishes what follows an accepted update (``update/accepted``, ``update/documents``
  and -- when the request wrote ``desired`` and desired still differs from reported -- ``update/delta``) or a
  delete (``delete/accepted``), QoS 1, on the classic (``$aws/things/<thing>/shadow/...``) or named
  (``.../shadow/name/<name>/...``) topics.
* :class:`ShadowService` answers devices' requests on ``.../update``, ``.../get`` and ``.../delete`` of classic
  and named shadows: ``accepted`` or ``rejected`` with AWS's error document (``code``, ``message``,
  ``timestamp``, ``clientToken``). Every request gets an answer; a failure of the service itself is a 500
  "Internal service failure", and the service goes on.

Requests are served one at a time in the order the broker delivers them (the broker link's thread).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from infra.local.shadow_documents import ShadowDocuments, UpdateResult
from infra.local.shadow_requests import ShadowRequestError, token_of
from shared import topics
from shared.errors import MqttError, TopicError
from shared.mqtt import IncomingMessage, MqttClient
from shared.topics import Family, ShadowOp

log = logging.getLogger(__name__)

#: what devices publish: the update, get and delete requests of classic and named shadows
REQUEST_FILTERS: tuple[str, ...] = tuple(
    f"$aws/things/+/shadow/{prefix}{op}" for prefix in ("", "name/+/") for op in ("update", "get", "delete")
)

_REJECTED = {ShadowOp.UPDATE: ShadowOp.UPDATE_REJECTED, ShadowOp.GET: ShadowOp.GET_REJECTED,
             ShadowOp.DELETE: ShadowOp.DELETE_REJECTED}  # fmt: skip


class ShadowNotifier:
    """Publishes the Device Shadow service's messages on the stand-in broker (QoS 1). A failed publish is logged,
    not raised: the change stands (in AWS the HTTP call succeeds whatever becomes of the MQTT messages)."""

    def __init__(self, mqtt: MqttClient) -> None:
        self.mqtt = mqtt

    def publish(self, thing: str, name: str | None, op: ShadowOp, body: dict[str, Any]) -> None:
        topic = topics.shadow(thing, op, name)
        payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        try:
            self.mqtt.publish(topic, payload, qos=1)
        except MqttError as exc:
            log.warning("shadow message on %s not sent: %s", topic, exc)

    def updated(self, thing: str, name: str | None, result: UpdateResult) -> None:
        """IoT Core's order: accepted, documents, delta."""
        self.publish(thing, name, ShadowOp.UPDATE_ACCEPTED, result.accepted)
        self.publish(thing, name, ShadowOp.UPDATE_DOCUMENTS, result.documents)
        if result.delta is not None:
            self.publish(thing, name, ShadowOp.UPDATE_DELTA, result.delta)

    def deleted(self, thing: str, name: str | None, answer: dict[str, Any]) -> None:
        self.publish(thing, name, ShadowOp.DELETE_ACCEPTED, answer)


def error_document(code: int, message: str, token: str | None, now: int) -> dict[str, Any]:
    """AWS's error response document."""
    body: dict[str, Any] = {"code": code, "message": message, "timestamp": now}
    if token is not None:
        body["clientToken"] = token
    return body


class ShadowService:
    """Answers devices' shadow requests on the stand-in broker with ``documents`` as the shadows."""

    def __init__(self, documents: ShadowDocuments, mqtt: MqttClient) -> None:
        self.documents = documents
        self._mqtt = mqtt
        self.notifier = ShadowNotifier(mqtt)
        self.handled = 0
        self.rejected = 0
        self._work: dict[ShadowOp, Callable[[str, str | None, bytes], None]] = {
            ShadowOp.UPDATE: self._update, ShadowOp.GET: self._get, ShadowOp.DELETE: self._delete,
        }  # fmt: skip

    def start(self) -> None:
        """Register the request filters (before or after the client's start)."""
        for topic_filter in REQUEST_FILTERS:
            self._mqtt.subscribe(topic_filter, self._on_request, qos=1)

    def stop(self) -> None:
        for topic_filter in REQUEST_FILTERS:
            self._mqtt.unsubscribe(topic_filter)

    def _update(self, thing: str, name: str | None, payload: bytes) -> None:
        self.notifier.updated(thing, name, self.documents.update(thing, name, payload))

    def _get(self, thing: str, name: str | None, payload: bytes) -> None:
        self.notifier.publish(thing, name, ShadowOp.GET_ACCEPTED, self.documents.get(thing, name, payload))

    def _delete(self, thing: str, name: str | None, payload: bytes) -> None:
        self.notifier.deleted(thing, name, self.documents.delete(thing, name, payload))

    def _on_request(self, msg: IncomingMessage) -> None:
        try:
            parsed = topics.parse(msg.topic)
        except TopicError as exc:
            log.warning("shadow service: ignored %s: %s", msg.topic, exc)
            return
        if parsed.family is not Family.SHADOW or parsed.op not in self._work or not parsed.thing:
            log.warning("shadow service: ignored %s", msg.topic)
            return
        thing, name, op = parsed.thing, parsed.shadow_name, parsed.op
        self.handled += 1
        try:
            self._work[op](thing, name, msg.payload)
        except ShadowRequestError as exc:
            self._reject(thing, name, op, exc.code, exc.message, msg.payload)
        except Exception as exc:  # the service's own failure: AWS's 500, and the service goes on
            log.error("shadow service: %s of %s/%s failed: %s", op.value, thing, name, exc, exc_info=True)
            self._reject(thing, name, op, 500, "Internal service failure", msg.payload)

    def _reject(self, thing: str, name: str | None, op: ShadowOp, code: int, message: str, payload: bytes) -> None:
        self.rejected += 1
        body = error_document(code, message, token_of(payload), self.documents.now())
        self.notifier.publish(thing, name, _REJECTED[op], body)
