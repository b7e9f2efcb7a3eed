"""The LMS's own logs on request: the cloud's :class:`~shared.messages.LogRequest` on ``site_down(..., LOGS)``.

One worker thread takes the requests in turn: it drops a bad or expired one (logged), selects the range from the
LMS's log file and its rotated copies, gzips it under the request's cap and POSTs it with the presigned form the
request carries (the only destination: the form is the cloud's, for one object key). Each request is audited in
the LMS's own log (``cloud:logs``), uploaded or not; the cloud learns the outcome from its bucket (docs/logs.md).
A request id is handled once (QoS 1 redelivery).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.lms.auth import Audit
from shared.log_export import LogUploadError, export_and_upload
from shared.messages import LogRequest
from shared.messages.base import decode_or_none
from shared.worker_thread import WorkerThread

log = logging.getLogger(__name__)

_SEEN = 1000
_STOP = object()


@dataclass
class LogUploadStats:
    requests: int = 0
    uploaded: int = 0
    failed: int = 0
    bad_messages: int = 0
    expired: int = 0
    duplicates: int = 0


class LogUploads:
    """:meth:`handle` is the cloud link's handler for ``site_down(..., LOGS)``; :meth:`start` the worker."""

    def __init__(self, files: Callable[[], list[Path]] | None, audit: Audit | None = None,
                 clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        self._files = files
        self._audit = audit
        self._clock = clock
        self._queue: queue.Queue[object] = queue.Queue(maxsize=100)
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._worker = WorkerThread("lms-log-uploads", self._run, wake=self._wake)
        self.stats = LogUploadStats()

    def start(self) -> LogUploads:
        self._worker.start()
        return self

    def stop(self) -> None:
        self._worker.stop()

    def handle(self, _topic: str, payload: bytes) -> None:
        """Cloud link handler (awscrt thread): only enqueue; a full queue drops the request (logged)."""
        try:
            self._queue.put_nowait(payload)
        except queue.Full:
            self.stats.bad_messages += 1
            log.warning("log request dropped: %d requests are waiting already", self._queue.qsize())

    def _wake(self) -> None:
        with contextlib.suppress(queue.Full):  # the worker checks ``stopping`` after each request
            self._queue.put_nowait(_STOP)

    def _run(self) -> None:
        while not self._worker.stopping.is_set():
            item = self._queue.get()
            if isinstance(item, bytes):
                self.process(item)

    def process(self, payload: bytes) -> dict[str, Any] | None:
        """Handle one request (the worker's step); what was uploaded, or ``None``."""
        request = decode_or_none(LogRequest, payload, log, "log request")
        if request is None:
            self.stats.bad_messages += 1
            return None
        if request.request_id in self._seen:
            self.stats.duplicates += 1
            return None
        self._seen[request.request_id] = None
        while len(self._seen) > _SEEN:
            self._seen.popitem(last=False)
        self.stats.requests += 1
        if request.expires_at < self._clock():
            self.stats.expired += 1
            return self._done(request, None, "expired before the LMS got it")
        if self._files is None:
            self.stats.failed += 1
            return self._done(request, None, "this LMS keeps no log file ([log_file] enabled = false)")
        try:
            result = export_and_upload(self._files(), request, request.upload)
        except LogUploadError as exc:
            self.stats.failed += 1
            return self._done(request, None, exc.message)
        self.stats.uploaded += 1
        return self._done(request, result, None)

    def _done(self, request: LogRequest, result: dict[str, Any] | None, error: str | None) -> dict[str, Any] | None:
        detail = {"request_id": request.request_id, "since": request.since, "until": request.until,
                  "level": request.level, "max_bytes": request.max_bytes, "key": request.upload.fields["key"]}
        if result is not None:
            log.info("log request %s: uploaded %d line(s), %d bytes gzip%s to %s", request.request_id,
                     result["lines"], result["bytes"], " (truncated)" if result["truncated"] else "", result["key"])
            detail.update(lines=result["lines"], bytes=result["bytes"], truncated=result["truncated"])
        else:
            log.warning("log request %s: not uploaded: %s", request.request_id, error)
            detail["error"] = error
        if self._audit is not None:
            try:
                self._audit.record("cloud", None, "cloud:logs", "lms", "uploaded" if result else "failed", detail)
            except Exception:
                log.exception("log request %s: could not audit", request.request_id)
        return result
