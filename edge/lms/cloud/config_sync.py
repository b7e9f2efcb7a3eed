"""The LMS's own configuration from the cloud: the ``lms:config`` named shadow of the site's thing, applied live.

(docs/protocol.md#the-lmss-configuration-from-the-cloud; the documents: :mod:`shared.messages.lms_config`; what
may be set: :mod:`edge.lms.config.cloud_config`.)

* The LMS reads the **whole** ``state.desired`` of the shadow -- from ``get/accepted`` (asked at every (re)connect)
  and from ``update/documents`` (every change; a removed key raises no ``update/delta``, so deltas are not
  enough) -- lays it over its local file, validates the result whole and, when valid, applies it live
  (:meth:`edge.lms.process.Lms.apply_config`) and stores it; when invalid it keeps what is in effect and reports
  the reason. Either way it reports, through the durable outbox, every cloud-settable setting in effect and
  ``config_status`` (applied / rejected / local, the shadow version meant, the reason).
* The last applied desired document is stored in SQLite (``lms_config`` key :data:`STORE_KEY`): an LMS restarted
  without the cloud runs on it (:func:`startup_config`); an LMS that has never reached the cloud runs on its file.
* ``get/rejected`` 404 (no such shadow: nothing desired) puts the local file back in effect.
* A throttled or failed ``get`` or report (``get/rejected`` / ``update/rejected`` 429 or 5xx: IoT Core takes 20
  shadow requests a second per thing) is asked again with a ``get`` -- which reports again -- after 0.5 s, then
  twice as long each time, at most :data:`MAX_RETRIES` times in a row.

One worker thread does the work; the link's handler and connected listener only enqueue. A document is handled
once per content (the LMS's own reported updates come back as ``update/documents`` with the same desired part
and change nothing).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from edge.lms.cloud.outbox import Outbox
from edge.lms.cloud.shadow_sync import GET_REQUEST, ShadowLink
from edge.lms.config import CloudConfigError, LmsConfig, cloud_settable_values, with_cloud_config
from edge.lms.store import Store
from shared import topics
from shared.config_version import cloud_config_version, local_config_version
from shared.errors import SharedError, TopicError
from shared.messages.lms_config import STATUS_KEY, LmsConfigDocuments, LmsConfigShadow, lms_config_update
from shared.messages.shadow import ShadowRejection
from shared.names import Namespace
from shared.topics import Family, ShadowOp
from shared.worker_thread import WorkerThread

log = logging.getLogger(__name__)

#: transient refusals (429, 5xx) asked again in a row, the first after :data:`RETRY_FIRST_S`, then twice as long
MAX_RETRIES = 5
RETRY_FIRST_S = 0.5

#: the ``lms_config`` table's key of the last applied cloud configuration (JSON ``{"desired", "version"}``)
STORE_KEY = "cloud_config"
#: the largest shadow document read (``update/documents`` holds two 8 KiB states and AWS's metadata)
MAX_DOCUMENT_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class AppliedCloudConfig:
    """The cloud's desired document in effect and the shadow version it came with."""

    desired: dict[str, Any]
    version: int | None


def load_applied(store: Store) -> AppliedCloudConfig | None:
    raw = store.get_config(STORE_KEY)
    if not raw:
        return None
    try:
        data = json.loads(raw)
        desired, version = data["desired"], data.get("version")
    except (ValueError, KeyError, TypeError):
        log.warning("cloud configuration: the stored one is unreadable; using the local file")
        return None
    if not isinstance(desired, dict) or not desired or not (version is None or isinstance(version, int)):
        return None
    return AppliedCloudConfig(desired, version)


def startup_config(base: LmsConfig, store: Store) -> tuple[LmsConfig, AppliedCloudConfig | None]:
    """The configuration to start with: the last applied cloud configuration over the local file ``base``, or the
    file alone (never reached the cloud, or the stored configuration no longer fits the file)."""
    applied = load_applied(store)
    if applied is None:
        return base, None
    try:
        effective = with_cloud_config(base, applied.desired)
    except CloudConfigError as exc:
        log.warning("cloud configuration: the stored one (shadow version %s) no longer applies (%s); using the "
                    "local file", applied.version, exc)  # fmt: skip
        return base, None
    log.info("cloud configuration: starting with the last applied one (shadow version %s) over the local file",
             applied.version)  # fmt: skip
    return effective, applied


@dataclass
class ConfigSyncStats:
    documents: int = 0
    applied: int = 0
    rejected: int = 0
    reported: int = 0
    bad_documents: int = 0
    gets: int = 0
    retried: int = 0  # transient refusals asked again


@dataclass(frozen=True, slots=True)
class _Document:
    desired: dict[str, Any] | None
    version: int | None
    #: report even when the content was handled already (a catch-up ``get``: the reported state may be stale)
    report: bool


_CONNECTED = object()
_STOP = object()


def _canonical(desired: Any) -> str:
    return json.dumps(desired, sort_keys=True, separators=(",", ":"), default=str)


class LmsConfigSync:
    """:meth:`handle` takes every message of the site thing's named shadows (it keeps the ``lms:config`` ones);
    :meth:`on_connected` is a link listener; :meth:`start`, :meth:`stop`."""

    def __init__(
        self, link: ShadowLink, outbox: Outbox, store: Store, *, namespace: Namespace, site_id: str,
        local_config: LmsConfig, effective: LmsConfig, applied: AppliedCloudConfig | None,
        apply_config: Callable[[LmsConfig], None],
    ) -> None:  # fmt: skip
        self._link = link
        self._outbox = outbox
        self._store = store
        self._local = local_config
        self._effective = effective
        self._applied = applied
        self._apply_config = apply_config
        self.thing = topics.site_thing_name(namespace, site_id)
        self._shadow = topics.lms_config_shadow_name()
        self._seen: str | None = None  # the canonical desired document handled last
        self._retries = 0  # transient refusals in a row
        self._local_version = local_config_version(local_config)
        self._queue: queue.Queue[object] = queue.Queue()
        self._worker = WorkerThread("lms-config", self._run, wake=lambda: self._queue.put(_STOP))
        self.stats = ConfigSyncStats()

    # ------------------------------------------------------------ lifecycle and inputs

    def start(self) -> LmsConfigSync:
        self._worker.start()
        return self

    def stop(self) -> None:
        self._worker.stop()

    def config_version(self) -> str:
        """``cloud:<shadow version>`` while a cloud configuration is in effect, else ``local:<hash of the file>``."""
        applied = self._applied
        if applied is not None and applied.version is not None:
            return cloud_config_version(applied.version)
        return self._local_version

    def handle(self, topic: str, payload: bytes) -> None:
        """Cloud link handler (awscrt thread): keep the configuration shadow's messages, only enqueue."""
        try:
            parsed = topics.parse(topic)
        except TopicError:
            return
        if parsed.family is Family.SHADOW and parsed.thing == self.thing and topics.is_lms_config_shadow(
            parsed.shadow_name
        ):
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
                    self._on_message(*item)
            except Exception:
                log.exception("cloud configuration: unexpected error")

    def _ask(self) -> None:
        topic = topics.shadow(self.thing, ShadowOp.GET, self._shadow)
        self.stats.gets += 1
        self._link.publish(topic, GET_REQUEST).add_done_callback(_log_unsent)

    def _on_message(self, op: ShadowOp, payload: bytes) -> None:
        if len(payload) > MAX_DOCUMENT_BYTES:
            self._bad(op, f"{len(payload)} bytes")
            return
        try:
            if op is ShadowOp.GET_ACCEPTED:
                self._retries = 0
                doc = LmsConfigShadow.model_validate_json(payload)
                self._on_document(_Document(doc.state.desired, doc.version, report=True))
            elif op is ShadowOp.UPDATE_DOCUMENTS:
                current = LmsConfigDocuments.model_validate_json(payload).current
                desired = current.state.desired if current is not None else None
                self._on_document(_Document(desired, current.version if current else None, report=False))
            elif op in (ShadowOp.GET_REJECTED, ShadowOp.UPDATE_REJECTED):
                self._on_rejected(op, ShadowRejection.model_validate_json(payload))
        except ValidationError as exc:
            self._bad(op, str(exc).replace("\n", " ")[:300])

    def _on_rejected(self, op: ShadowOp, rejection: ShadowRejection) -> None:
        if op is ShadowOp.GET_REJECTED and rejection.code == 404:  # no shadow: nothing desired
            self._on_document(_Document(None, None, report=True))
            return
        if rejection.transient and self._retries < MAX_RETRIES:
            delay = RETRY_FIRST_S * 2**self._retries
            self._retries += 1
            self.stats.retried += 1
            log.info("cloud configuration: IoT Core refused the %s (%d %s); asking again in %.1f s",
                     op.value.split("/")[0], rejection.code, rejection.message[:300], delay)  # fmt: skip
            timer = threading.Timer(delay, self._queue.put, args=(_CONNECTED,))
            timer.daemon = True
            timer.start()
            return
        log.warning("cloud configuration: IoT Core refused the %s: %d %s", op.value.split("/")[0], rejection.code,
                    rejection.message[:300])  # fmt: skip

    def _bad(self, op: ShadowOp, why: str) -> None:
        self.stats.bad_documents += 1
        log.warning("cloud configuration: dropped a bad %s document: %s", op.value, why)

    # ------------------------------------------------------------ applying and reporting

    def _on_document(self, doc: _Document) -> None:
        desired = doc.desired or {}
        key = _canonical(desired)
        if key == self._seen and not doc.report:
            return  # handled already (e.g. our own reported update coming back)
        self._seen = key
        self.stats.documents += 1
        in_effect = self._applied.desired if self._applied is not None else {}
        if key == _canonical(in_effect):
            self._report(reason=None, version=self._applied.version if self._applied else doc.version)
            return
        try:
            effective = with_cloud_config(self._local, desired)
        except CloudConfigError as exc:
            self.stats.rejected += 1
            log.warning("cloud configuration: rejected shadow version %s: %s", doc.version, exc)
            self._report(reason=str(exc), version=doc.version)
            return
        self._apply_config(effective)
        self._effective = effective
        self._applied = AppliedCloudConfig(desired, doc.version) if desired else None
        self._store.set_config(STORE_KEY, _canonical({"desired": desired, "version": doc.version}) if desired else "")
        self.stats.applied += 1
        log.info("cloud configuration: %s (shadow version %s)",
                 f"applied {sorted(desired)}" if desired else "nothing desired: the local file", doc.version)
        self._report(reason=None, version=doc.version)

    def _report(self, *, reason: str | None, version: int | None) -> None:
        state = "rejected" if reason is not None else ("applied" if self._applied is not None else "local")
        values = cloud_settable_values(self._effective)
        values[STATUS_KEY] = {"state": state, "version": version, "config_version": self.config_version(),
                              "reason": reason, "at": round(time.time(), 3)}  # fmt: skip
        topic = topics.shadow(self.thing, ShadowOp.UPDATE, self._shadow)
        try:
            self._outbox.put(topic, lms_config_update("reported", values))
        except (ValueError, SharedError) as exc:
            log.error("cloud configuration: cannot report: %s", exc)
            return
        self.stats.reported += 1


def _log_unsent(fut: Future[None]) -> None:
    exc = fut.exception()
    if exc is not None:
        log.debug("cloud configuration: get not sent: %s", exc)
