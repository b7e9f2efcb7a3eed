"""The tenant's alert rules from the ``alerts:rules`` named shadow of the site's thing (docs/alerts.md).

Like ``lms:config`` (:mod:`edge.lms.cloud.config_sync`): the whole ``state.desired`` is read from ``get/accepted``
(asked at every (re)connect) and ``update/documents``; it must be an
:class:`~shared.messages.alert.AlertRulesDocument`. A valid one is put in force and kept (across restarts, in
SQLite); an invalid one is refused and the rules in force stay. Either way the outcome is reported through the
outbox in the shadow's ``state.reported.rules_status``::

    {"state": "accepted" | "rejected" | "none", "version": <shadow version>, "rules": <count in force>,
     "reason": <why it was refused, or null>, "at": <epoch s>}

``get/rejected`` 404 (no such shadow) means the tenant has no rules: none are in force. One worker thread does the
work; the link's handler only enqueues.
"""

from __future__ import annotations

import json
import logging
import queue
import time
from concurrent.futures import Future
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError

from edge.lms.alerts.rule_book import RuleBook
from shared import topics
from shared.errors import MessageError, TopicError
from shared.messages import load_json
from shared.messages.alert import AlertRulesDocument
from shared.messages.shadow import MAX_SHADOW_STATE_BYTES
from shared.names import Namespace
from shared.topics import Family, ShadowOp
from shared.worker_thread import WorkerThread

log = logging.getLogger(__name__)

STATUS_KEY = "rules_status"
MAX_DOCUMENT_BYTES = 64 * 1024
_CONNECTED = object()
_STOP = object()


class ShadowPublisher(Protocol):
    def publish(self, topic: str, payload: bytes, qos: int = 1) -> Future[None]: ...


class OutboxSink(Protocol):
    def put(self, topic: str, message: BaseModel | bytes) -> int: ...


def _desired(op: ShadowOp, payload: bytes) -> tuple[Any, int | None] | None:
    """The desired part and version of a ``get/accepted`` or ``update/documents`` message (None: not one)."""
    try:
        doc = load_json(payload, max_bytes=MAX_DOCUMENT_BYTES)
    except MessageError as exc:
        raise ValueError(exc.message) from None
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    if op is ShadowOp.UPDATE_DOCUMENTS:
        doc = doc.get("current")
        if not isinstance(doc, dict):
            return {}, None
    state = doc.get("state") or {}
    version = doc.get("version")
    if not isinstance(state, dict) or not (version is None or isinstance(version, int)):
        raise ValueError("state must be an object and version an integer")
    return state.get("desired") or {}, version


class RulesShadowSync:
    """:meth:`handle` takes every message of the site thing's named shadows (it keeps ``alerts:rules``)."""

    def __init__(self, link: ShadowPublisher, outbox: OutboxSink, rules: RuleBook, *, namespace: Namespace,
                 site_id: str) -> None:  # fmt: skip
        self._link = link
        self._outbox = outbox
        self._rules = rules
        self.thing = topics.site_thing_name(namespace, site_id)
        self._shadow = topics.alert_rules_shadow_name()
        self._seen: str | None = None
        self._queue: queue.Queue[object] = queue.Queue()
        self._worker = WorkerThread("lms-alert-rules", self._run, wake=lambda: self._queue.put(_STOP))
        self.accepted = 0
        self.rejected = 0

    def start(self) -> RulesShadowSync:
        self._worker.start()
        return self

    def stop(self) -> None:
        self._worker.stop()

    def handle(self, topic: str, payload: bytes) -> None:
        try:
            parsed = topics.parse(topic)
        except TopicError:
            return
        if parsed.family is Family.SHADOW and parsed.thing == self.thing and topics.is_alert_rules_shadow(
            parsed.shadow_name
        ):
            self._queue.put((parsed.op, payload))

    def on_connected(self) -> None:
        self._queue.put(_CONNECTED)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            try:
                if item is _CONNECTED:
                    topic = topics.shadow(self.thing, ShadowOp.GET, self._shadow)
                    self._link.publish(topic, b"{}").add_done_callback(_log_unsent)
                elif isinstance(item, tuple):
                    self.on_message(*item)
            except Exception:
                log.exception("alert rules: unexpected error")

    def on_message(self, op: ShadowOp, payload: bytes) -> None:
        if op is ShadowOp.GET_REJECTED:
            try:
                code = load_json(payload, max_bytes=MAX_DOCUMENT_BYTES).get("code")
            except (MessageError, AttributeError):
                code = None
            if code == 404:  # no shadow: the tenant has no rules
                self._apply({}, None, report=True)
            return
        if op not in (ShadowOp.GET_ACCEPTED, ShadowOp.UPDATE_DOCUMENTS):
            return
        if len(payload) > MAX_DOCUMENT_BYTES:
            self._refuse(None, f"the document is {len(payload)} bytes, over {MAX_DOCUMENT_BYTES}")
            return
        try:
            got = _desired(op, payload)
        except ValueError as exc:
            self._refuse(None, f"not a shadow document: {str(exc)[:200]}")
            return
        assert got is not None
        desired, version = got
        self._apply(desired, version, report=op is ShadowOp.GET_ACCEPTED)

    def _apply(self, desired: Any, version: int | None, *, report: bool) -> None:
        key = json.dumps(desired, sort_keys=True, default=str)
        if key == self._seen and not report:
            return  # handled already (our own reported update coming back)
        self._seen = key
        try:
            document = AlertRulesDocument.model_validate(desired or {})
        except ValidationError as exc:
            self._refuse(version, "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())[:900])
            return
        self._rules.set_tenant(document, version)
        self.accepted += 1
        log.info("alert rules: %d tenant rules in force (shadow version %s)", len(document.rules), version)
        self._report("accepted" if document.rules else "none", version, None)

    def _refuse(self, version: int | None, reason: str) -> None:
        self.rejected += 1
        log.warning("alert rules: refused shadow version %s: %s", version, reason)
        self._report("rejected", version, reason)

    def _report(self, state: str, version: int | None, reason: str | None) -> None:
        status = {"state": state, "version": version, "rules": len(self._rules.tenant_rules()), "reason": reason,
                  "at": round(time.time(), 3)}  # fmt: skip
        payload = json.dumps({"state": {"reported": {STATUS_KEY: status}}}, separators=(",", ":")).encode()
        if len(payload) > MAX_SHADOW_STATE_BYTES:
            return
        self._outbox.put(topics.shadow(self.thing, ShadowOp.UPDATE, self._shadow), payload)


def _log_unsent(fut: Future[None]) -> None:
    if fut.exception() is not None:
        log.debug("alert rules: get not sent: %s", fut.exception())
