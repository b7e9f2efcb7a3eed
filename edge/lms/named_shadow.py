"""One way to read a named shadow of the site's thing on the LMS (docs/protocol.md): the ``lms:config`` shadow
(:mod:`edge.lms.cloud.config_sync`) and the ``alerts:rules`` shadow (:mod:`edge.lms.alerts.rules_shadow`) are both
a :class:`NamedShadowReader`.

* The **whole** ``state.desired`` is read -- from ``get/accepted`` (asked at every (re)connect) and from
  ``update/documents`` (every change; a removed key raises no ``update/delta``, so deltas are not enough) -- and
  handed to :meth:`NamedShadowReader.on_document` once per content: the LMS's own reported updates come back as
  ``update/documents`` with the same desired part and are skipped (a ``get/accepted`` is always handed over: the
  reported state may be stale).
* ``get/rejected`` 404 (no such shadow) is a document with nothing desired.
* A throttled or failed ``get`` or report (``get/rejected`` / ``update/rejected`` 429 or 5xx: IoT Core takes 20
  shadow requests a second per thing) is asked again with a ``get`` after 0.5 s, then twice as long each time, at
  most :data:`MAX_RETRIES` times in a row.
* A document over :data:`MAX_DOCUMENT_BYTES` or not a shadow document goes to :meth:`NamedShadowReader.bad_document`.

One worker thread does the work; the link's handler and connected listener only enqueue.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Protocol

from pydantic import ValidationError

from shared import topics
from shared.errors import TopicError
from shared.messages.lms_config import LmsConfigDocuments, LmsConfigShadow
from shared.messages.shadow import ShadowRejection
from shared.topics import Family, ShadowOp
from shared.worker_thread import WorkerThread

log = logging.getLogger(__name__)

#: transient refusals (429, 5xx) asked again in a row, the first after :data:`RETRY_FIRST_S`, then twice as long
MAX_RETRIES = 5
RETRY_FIRST_S = 0.5
#: the largest shadow document read (``update/documents`` holds two 8 KiB states and AWS's metadata)
MAX_DOCUMENT_BYTES = 64 * 1024
GET_REQUEST = b"{}"

_CONNECTED = object()
_STOP = object()


class ShadowPublisher(Protocol):
    def publish(self, topic: str, payload: bytes, qos: int = 1) -> Future[None]: ...


def canonical(desired: Any) -> str:
    return json.dumps(desired, sort_keys=True, separators=(",", ":"), default=str)


class NamedShadowReader:
    """:meth:`handle` takes every message of the site thing's named shadows (it keeps its own shadow's);
    :meth:`on_connected` is a link listener; :meth:`start`, :meth:`stop`. Subclasses implement
    :meth:`on_document` (and may :meth:`bad_document`)."""

    def __init__(self, link: ShadowPublisher, *, thing: str, shadow_name: str, is_mine: Callable[[str | None], bool],
                 what: str, worker: str) -> None:  # fmt: skip
        self._link = link
        self.thing = thing
        self._shadow = shadow_name
        self._is_mine = is_mine
        self._what = what
        self._seen: str | None = None  # the canonical desired document handled last
        self._retries = 0  # transient refusals in a row
        self._queue: queue.Queue[object] = queue.Queue()
        self._worker = WorkerThread(worker, self._run, wake=lambda: self._queue.put(_STOP))
        self.gets = 0
        self.retried = 0

    # ------------------------------------------------------------ what a subclass does

    def on_document(self, desired: dict[str, Any] | None, version: int | None, *, report: bool) -> None:
        raise NotImplementedError

    def bad_document(self, op: ShadowOp, why: str) -> None:
        log.warning("%s: dropped a bad %s document: %s", self._what, op.value, why)

    # ------------------------------------------------------------ lifecycle and inputs

    def start(self) -> NamedShadowReader:
        self._worker.start()
        return self

    def stop(self) -> None:
        self._worker.stop()

    def handle(self, topic: str, payload: bytes) -> None:
        """Cloud link handler: keep this shadow's messages, only enqueue."""
        try:
            parsed = topics.parse(topic)
        except TopicError:
            return
        if parsed.family is Family.SHADOW and parsed.thing == self.thing and self._is_mine(parsed.shadow_name):
            self._queue.put((parsed.op, payload))

    def on_connected(self) -> None:
        self._queue.put(_CONNECTED)

    # ------------------------------------------------------------ worker

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            try:
                if item is _CONNECTED:
                    self._ask()
                elif isinstance(item, tuple):
                    self.on_message(*item)
            except Exception:
                log.exception("%s: unexpected error", self._what)

    def _ask(self) -> None:
        self.gets += 1
        topic = topics.shadow(self.thing, ShadowOp.GET, self._shadow)
        self._link.publish(topic, GET_REQUEST).add_done_callback(self._log_unsent)

    def on_message(self, op: ShadowOp, payload: bytes) -> None:
        if len(payload) > MAX_DOCUMENT_BYTES:
            self.bad_document(op, f"the document is {len(payload)} bytes, over {MAX_DOCUMENT_BYTES}")
            return
        try:
            if op is ShadowOp.GET_ACCEPTED:
                self._retries = 0
                doc = LmsConfigShadow.model_validate_json(payload)  # AWS's document shape, any named shadow's
                self._document(doc.state.desired, doc.version, report=True)
            elif op is ShadowOp.UPDATE_DOCUMENTS:
                current = LmsConfigDocuments.model_validate_json(payload).current
                desired = current.state.desired if current is not None else None
                self._document(desired, current.version if current else None, report=False)
            elif op in (ShadowOp.GET_REJECTED, ShadowOp.UPDATE_REJECTED):
                self._on_rejected(op, ShadowRejection.model_validate_json(payload))
        except ValidationError as exc:
            self.bad_document(op, f"not a shadow document: {str(exc).replace(chr(10), ' ')[:300]}")

    def _document(self, desired: dict[str, Any] | None, version: int | None, *, report: bool) -> None:
        key = canonical(desired or {})
        if key == self._seen and not report:
            return  # handled already (e.g. our own reported update coming back)
        self._seen = key
        self.on_document(desired, version, report=report)

    def _on_rejected(self, op: ShadowOp, rejection: ShadowRejection) -> None:
        if op is ShadowOp.GET_REJECTED and rejection.code == 404:  # no shadow: nothing desired
            self._document(None, None, report=True)
            return
        if rejection.transient and self._retries < MAX_RETRIES:
            delay = RETRY_FIRST_S * 2**self._retries
            self._retries += 1
            self.retried += 1
            log.info("%s: IoT Core refused the %s (%d %s); asking again in %.1f s", self._what,
                     op.value.split("/")[0], rejection.code, rejection.message[:300], delay)  # fmt: skip
            timer = threading.Timer(delay, self._queue.put, args=(_CONNECTED,))
            timer.daemon = True
            timer.start()
            return
        log.warning("%s: IoT Core refused the %s: %d %s", self._what, op.value.split("/")[0], rejection.code,
                    rejection.message[:300])  # fmt: skip

    def _log_unsent(self, fut: Future[None]) -> None:
        exc = fut.exception()
        if exc is not None:
            log.debug("%s: get not sent: %s", self._what, exc)
