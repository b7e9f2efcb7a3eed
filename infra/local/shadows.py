"""The twin's device shadows: what IoT Core does on the MQTT side of a shadow, which moto does not.

moto's ``iot-data`` stores shadow documents (``UpdateThingShadow`` / ``GetThingShadow`` over HTTP) with AWS's
merge, version and delta semantics, but publishes nothing and answers no MQTT request. Two parts add that, on
the stand-in broker, with one set of reply-publishing code (:class:`ShadowReplies`):

* :class:`TwinShadowStore` wraps the cloud's own :class:`ShadowStore` adapter (pointed at moto): an update by
  the cloud (the district admin writing ``desired``) is stored exactly as in AWS, then ``update/accepted``,
  ``update/documents`` and -- when the request carried ``desired`` and the document's delta is not empty --
  ``update/delta`` are published, as IoT Core would.
* :class:`ShadowService` answers devices' requests: ``$aws/things/<thing>/shadow/name/<shadow>/update`` ->
  ``update/accepted`` (+ documents, + delta) or ``update/rejected``; ``.../get`` -> ``get/accepted`` (the whole
  document, with ``state.delta``) or ``get/rejected`` (404 when no such shadow).

Replies echo ``clientToken`` (moto does not), are QoS 1, and every request gets an answer: a bad one is
rejected with AWS's code (400, 404, 409, 413, 500), never dropped, and the service goes on.

Differences from AWS (also in ``docs/architecture.md``): versions and timestamps are moto's; ``previous`` and
``current`` in ``update/documents`` are read from moto around the update (serialized within this process, not
against other writers of moto); there are no persistent-session semantics beyond Mosquitto's; an update with
``version`` on a shadow that does not exist is rejected 409 by the service (moto would fail with a 500).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from shared import topics
from shared.errors import MqttError, TopicError
from shared.messages.shadow import MAX_SHADOW_STATE_BYTES
from shared.mqtt import IncomingMessage, MqttClient
from shared.topics import Family, ShadowOp

log = logging.getLogger(__name__)

#: what devices publish; the service answers on the same thing/shadow's reply topics
UPDATE_FILTER = "$aws/things/+/shadow/name/+/update"
GET_FILTER = "$aws/things/+/shadow/name/+/get"


class ShadowStore(Protocol):
    """The cloud's shadow adapter (``cloud/chalicelib/adapters/shadows.py``), structurally."""

    def update(self, thing: str, shadow: str, payload: bytes) -> dict[str, Any]: ...

    def get(self, thing: str, shadow: str) -> dict[str, Any] | None: ...


class ShadowRequestError(Exception):
    """A device's request that IoT Core would reject: ``code`` is the AWS error code (an HTTP status)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def shadow_delta(desired: Any, reported: Any) -> dict[str, Any]:
    """AWS's delta: the desired fields absent from or different in reported (objects compared recursively,
    arrays and scalars compared whole)."""
    if not isinstance(desired, dict):
        return {}
    reported = reported if isinstance(reported, dict) else {}
    out: dict[str, Any] = {}
    for key, want in desired.items():
        if want is None:
            continue
        have = reported.get(key)
        if isinstance(want, dict) and isinstance(have, dict):
            sub = shadow_delta(want, have)
            if sub:
                out[key] = sub
        elif key not in reported or have != want:
            out[key] = want
    return out


def with_delta(document: dict[str, Any]) -> dict[str, Any]:
    """The document with ``state.delta`` as AWS returns it from ``get`` (computed if the store left it out)."""
    doc = dict(document)
    state = dict(doc.get("state") or {})
    delta = shadow_delta(state.get("desired"), state.get("reported"))
    if delta:
        state["delta"] = delta
    else:
        state.pop("delta", None)
    doc["state"] = state
    return doc


def _aws_error(exc: BaseException) -> tuple[int, str] | None:
    """The AWS status and message behind a store error (the adapter chains botocore's ``ClientError``)."""
    cause: BaseException | None = exc
    while cause is not None:
        response = getattr(cause, "response", None)
        if isinstance(response, dict) and "Error" in response:
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            message = str(response["Error"].get("Message") or response["Error"].get("Code") or "")
            if isinstance(status, int) and 400 <= status < 600:
                return status, message or str(cause)
        cause = cause.__cause__
    return None


def _error_code(exc: BaseException) -> int:
    """The AWS code for a store error: IoT's own status if known, else the cloud error's, else 500."""
    aws = _aws_error(exc)
    if aws is not None:
        return aws[0]
    status = getattr(exc, "status", None)
    return status if isinstance(status, int) and 400 <= status < 600 else 500


def _error_message(exc: BaseException) -> str:
    aws = _aws_error(exc)
    if aws is not None:
        return aws[1]
    message = getattr(exc, "message", None)
    return message if isinstance(message, str) and message else str(exc) or type(exc).__name__


def parse_update_request(payload: bytes) -> dict[str, Any]:
    """Validate a device's ``update`` request as IoT Core does; raise :class:`ShadowRequestError`."""
    if len(payload) > MAX_SHADOW_STATE_BYTES:
        raise ShadowRequestError(413, "The payload exceeds the maximum size allowed")
    try:
        request = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise ShadowRequestError(400, "Payload contains invalid json") from None
    if not isinstance(request, dict):
        raise ShadowRequestError(400, "Payload contains invalid json")
    token = request.get("clientToken")
    if token is not None and not isinstance(token, str):
        raise ShadowRequestError(400, "Invalid clientToken")
    if "state" not in request:
        raise ShadowRequestError(400, "Missing required node: state")
    state = request["state"]
    if not isinstance(state, dict):
        raise ShadowRequestError(400, "State node must be an object")
    for section in ("desired", "reported"):
        if section in state and state[section] is not None and not isinstance(state[section], dict):
            raise ShadowRequestError(400, f"{section.capitalize()} node must be an object")
    version = request.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        raise ShadowRequestError(400, "Invalid version")
    return request


def _client_token(payload: bytes) -> str | None:
    """The request's ``clientToken`` if the payload is a JSON object carrying a string one."""
    try:
        request = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    token = request.get("clientToken") if isinstance(request, dict) else None
    return token if isinstance(token, str) else None


class ShadowReplies:
    """Applies updates through a store and publishes IoT Core's replies on the stand-in broker (QoS 1).

    Updates are serialized (one lock per process, shared by every instance) so that ``update/documents``'
    ``previous``/``current`` bracket exactly one update.
    """

    _apply_lock = threading.Lock()

    def __init__(self, store: ShadowStore, mqtt: MqttClient) -> None:
        self.store = store
        self.mqtt = mqtt

    def _publish(self, thing: str, shadow: str, op: ShadowOp, body: dict[str, Any]) -> None:
        """Publish one reply. A failure is logged, not raised: the store's answer stands (in AWS the HTTP call
        succeeds whatever becomes of the MQTT messages)."""
        topic = topics.shadow(thing, op, shadow)
        payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        try:
            self.mqtt.publish(topic, payload, qos=1)
        except MqttError as exc:
            log.warning("shadow reply on %s not sent: %s", topic, exc)

    def apply_update(
        self, thing: str, shadow: str, payload: bytes, request: dict[str, Any], *, check_version: bool = True
    ) -> dict[str, Any]:
        """``store.update`` (its errors propagate), then ``update/accepted``, ``update/documents`` and, when the
        request carried ``desired`` and the delta is not empty, ``update/delta``. Returns the store's answer.

        ``check_version``: reject (409) a ``version`` on a shadow that does not exist, as IoT Core does, before
        moto fails on it with a 500 (the device path; the cloud's own calls get the store's error)."""
        token = request.get("clientToken") if isinstance(request.get("clientToken"), str) else None
        with self._apply_lock:
            previous = self.store.get(thing, shadow)
            if check_version and previous is None and request.get("version") is not None:
                raise ShadowRequestError(409, "Version conflict")
            response = self.store.update(thing, shadow, payload)
            current = self.store.get(thing, shadow)
        now = int(time.time())
        accepted = dict(response)
        accepted.setdefault("timestamp", now)
        if token is not None:
            accepted["clientToken"] = token
        self._publish(thing, shadow, ShadowOp.UPDATE_ACCEPTED, accepted)
        if current is None:  # deleted between our calls: nothing more to tell
            return response
        timestamp = current.get("timestamp", accepted["timestamp"])
        documents: dict[str, Any] = {
            "previous": _document_view(previous),
            "current": _document_view(current),
            "timestamp": timestamp,
        }
        if token is not None:
            documents["clientToken"] = token
        self._publish(thing, shadow, ShadowOp.UPDATE_DOCUMENTS, documents)
        state = request.get("state") or {}
        if isinstance(state, dict) and isinstance(state.get("desired"), dict):
            cur_state = current.get("state") or {}
            delta = shadow_delta(cur_state.get("desired"), cur_state.get("reported"))
            if delta:
                body: dict[str, Any] = {"version": current.get("version"), "timestamp": timestamp, "state": delta}
                desired_meta = (current.get("metadata") or {}).get("desired") or {}
                metadata = {k: desired_meta[k] for k in delta if k in desired_meta}
                if metadata:
                    body["metadata"] = metadata
                if token is not None:
                    body["clientToken"] = token
                self._publish(thing, shadow, ShadowOp.UPDATE_DELTA, body)
        return response

    def reject(self, thing: str, shadow: str, op: ShadowOp, code: int, message: str, token: str | None) -> None:
        body: dict[str, Any] = {"code": code, "message": message, "timestamp": int(time.time())}
        if token is not None:
            body["clientToken"] = token
        self._publish(thing, shadow, op, body)

    def accept_get(self, thing: str, shadow: str, document: dict[str, Any], token: str | None) -> None:
        body = with_delta(document)
        body.setdefault("timestamp", int(time.time()))
        if token is not None:
            body["clientToken"] = token
        self._publish(thing, shadow, ShadowOp.GET_ACCEPTED, body)


def _document_view(document: dict[str, Any] | None) -> dict[str, Any] | None:
    """A document as ``update/documents`` shows it: state (desired/reported, no delta), metadata, version."""
    if document is None:
        return None
    state = {k: v for k, v in (document.get("state") or {}).items() if k in ("desired", "reported")}
    view: dict[str, Any] = {"state": state, "metadata": document.get("metadata") or {}}
    if "version" in document:
        view["version"] = document["version"]
    return view


class TwinShadowStore:
    """The cloud's :class:`ShadowStore` in the twin: ``inner`` (the production adapter pointed at moto) plus
    the messages IoT Core would then publish on the stand-in broker."""

    def __init__(self, inner: ShadowStore, mqtt: MqttClient) -> None:
        self.inner = inner
        self._replies = ShadowReplies(inner, mqtt)

    def update(self, thing: str, shadow: str, payload: bytes) -> dict[str, Any]:
        try:
            request = json.loads(payload)
        except (ValueError, UnicodeDecodeError):
            request = None
        if not isinstance(request, dict):  # the inner store rejects it with AWS's error
            return self.inner.update(thing, shadow, payload)
        return self._replies.apply_update(thing, shadow, payload, request, check_version=False)

    def get(self, thing: str, shadow: str) -> dict[str, Any] | None:
        return self.inner.get(thing, shadow)


class ShadowService:
    """Answers devices' shadow requests on the stand-in broker, with ``store`` (moto) as the shadows' store.

    Give it the plain store (not a :class:`TwinShadowStore`, which would publish the replies a second time);
    a :class:`TwinShadowStore` is unwrapped.
    """

    def __init__(self, store: ShadowStore, mqtt: MqttClient) -> None:
        if isinstance(store, TwinShadowStore):
            store = store.inner
        self._store = store
        self._mqtt = mqtt
        self._replies = ShadowReplies(store, mqtt)
        self.handled = 0
        self.rejected = 0

    def start(self) -> None:
        """Register the request filters (before or after the client's start)."""
        self._mqtt.subscribe(UPDATE_FILTER, self._on_update, qos=1)
        self._mqtt.subscribe(GET_FILTER, self._on_get, qos=1)

    def stop(self) -> None:
        self._mqtt.unsubscribe(UPDATE_FILTER)
        self._mqtt.unsubscribe(GET_FILTER)

    @staticmethod
    def _target(msg: IncomingMessage, op: ShadowOp) -> tuple[str, str] | None:
        try:
            parsed = topics.parse(msg.topic)
        except TopicError as exc:
            log.warning("shadow service: ignored %s: %s", msg.topic, exc)
            return None
        if parsed.family is not Family.SHADOW or parsed.op is not op or not parsed.thing or not parsed.shadow_name:
            log.warning("shadow service: ignored %s", msg.topic)
            return None
        return parsed.thing, parsed.shadow_name

    def _on_update(self, msg: IncomingMessage) -> None:
        def update(thing: str, shadow: str, _token: str | None) -> None:
            self._replies.apply_update(thing, shadow, msg.payload, parse_update_request(msg.payload))

        self._serve(msg, ShadowOp.UPDATE, ShadowOp.UPDATE_REJECTED, update)

    def _on_get(self, msg: IncomingMessage) -> None:
        def get(thing: str, shadow: str, token: str | None) -> None:
            if msg.payload.strip():
                try:
                    request = json.loads(msg.payload)
                except (ValueError, UnicodeDecodeError):
                    raise ShadowRequestError(400, "Payload contains invalid json") from None
                if not isinstance(request, dict):
                    raise ShadowRequestError(400, "Payload contains invalid json")
            document = self._store.get(thing, shadow)
            if document is None:
                raise ShadowRequestError(404, f"No shadow exists with name: '{shadow}'")
            self._replies.accept_get(thing, shadow, document, token)

        self._serve(msg, ShadowOp.GET, ShadowOp.GET_REJECTED, get)

    def _serve(
        self, msg: IncomingMessage, op: ShadowOp, rejected: ShadowOp, work: Callable[[str, str, str | None], None]
    ) -> None:
        """One device request: ``work(thing, shadow, client_token)`` replies; any failure becomes ``rejected``."""
        target = self._target(msg, op)
        if target is None:
            return
        thing, shadow = target
        self.handled += 1
        token = _client_token(msg.payload)
        try:
            work(thing, shadow, token)
        except ShadowRequestError as exc:
            self._reject(thing, shadow, rejected, exc.code, exc.message, token)
        except Exception as exc:  # the store's errors (ShadowError...) become AWS's rejection
            log.warning("shadow service: %s of %s/%s failed: %s", op.value, thing, shadow, exc, exc_info=True)
            self._reject(thing, shadow, rejected, _error_code(exc), _error_message(exc), token)

    def _reject(self, thing: str, shadow: str, op: ShadowOp, code: int, message: str, token: str | None) -> None:
        self.rejected += 1
        self._replies.reject(thing, shadow, op, code, message, token)
