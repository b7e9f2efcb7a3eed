"""The LMS's own logs on request (docs/logs.md): its rotating log file, and the cloud's ``log_request`` handled
once — uploaded through the request's form, or refused (bad, expired, no file, upload refused) — audited either
way, nothing crashing."""

from __future__ import annotations

import gzip
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.lms.auth import Audit
from edge.lms.cloud.log_uploads import LogUploads
from edge.lms.config import LogFileSettings
from edge.lms.log_file import LmsLogFile
from edge.lms.store import Store
from shared.log_export import PresignedPost
from shared.messages import LogRequest, encode
from tests.fixtures.upload_sink import UploadSink, upload_sink


@pytest.fixture
def bucket() -> Iterator[UploadSink]:
    with upload_sink() as sink:
        yield sink


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[LmsLogFile]:
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.INFO)
    made = LmsLogFile(tmp_path / "logs" / "lms.log", LogFileSettings(max_bytes=64 * 1024, backups=2)).open()
    try:
        yield made
    finally:
        made.close()
        root.setLevel(level)


@pytest.fixture
def audit(tmp_path: Path) -> Iterator[Audit]:
    store = Store(tmp_path / "lms.db").open()
    try:
        yield Audit(store)
    finally:
        store.close()


def _request(url: str, request_id: str = "r1", **extra: object) -> bytes:
    fields = {"key": f"logs/s1/lms/{request_id}.log.gz", "Content-Type": "application/gzip"}
    message = LogRequest(request_id=request_id, upload=PresignedPost(url=url, fields=fields),
                         expires_at=time.time() + 300, **extra)
    return encode(message)


def test_the_log_file_writes_utc_records_and_rotates(log_file: LmsLogFile) -> None:
    log = logging.getLogger("edge.lms.test")
    log.info("hello %s", "file")
    for i in range(1500):
        log.info("filler %05d %s", i, "x" * 60)
    files = log_file.files()
    assert files[-1] == log_file.path and len(files) == 3  # lms.log.2, lms.log.1, lms.log
    first = files[0].read_text().splitlines()[0]
    assert first[10] == "T" and first[23:29] == "Z INFO" and " edge.lms.test [" in first


def test_a_request_is_uploaded_once_and_audited(log_file: LmsLogFile, audit: Audit, bucket: UploadSink) -> None:
    since = time.time() - 1
    logging.getLogger("edge.lms.test").warning("the line the cloud wants")
    uploads = LogUploads(log_file.files, audit)
    result = uploads.process(_request(bucket.url, since=since, level="WARNING"))
    assert result is not None and result["status"] == 204 and result["lines"] >= 1
    body = bucket.bodies[0]
    gz = body[body.index(b"\x1f\x8b"):body.rindex(b"\r\n--")]
    assert b"the line the cloud wants" in gzip.decompress(gz)
    assert uploads.process(_request(bucket.url, since=since)) is None  # redelivered: handled once
    assert uploads.stats.duplicates == 1 and len(bucket.bodies) == 1
    [entry] = audit.recent(action="cloud:logs")
    assert entry["result"] == "uploaded" and entry["detail"]["request_id"] == "r1"


@pytest.mark.parametrize(("case", "error"), [
    ("expired", "expired"), ("refused", "HTTP 403"), ("no file", "no log file"),
])
def test_refusals_are_audited_not_raised(log_file: LmsLogFile, audit: Audit, bucket: UploadSink, case: str,
                                         error: str) -> None:
    bucket.status = 403 if case == "refused" else 204
    uploads = LogUploads(None if case == "no file" else log_file.files, audit,
                         clock=(lambda: time.time() + 3600) if case == "expired" else time.time)
    assert uploads.process(_request(bucket.url)) is None
    [entry] = audit.recent(action="cloud:logs")
    assert entry["result"] == "failed" and error in entry["detail"]["error"]


@pytest.mark.parametrize("payload", [
    b"not json", b"[]", json.dumps({"type": "log_request", "v": 1, "request_id": "r"}).encode(),
    json.dumps({"type": "command", "v": 1}).encode(), b"{" * 200_000,
])
def test_bad_messages_are_dropped(audit: Audit, payload: bytes) -> None:
    uploads = LogUploads(lambda: [], audit)
    assert uploads.process(payload) is None
    assert uploads.stats.bad_messages == 1 and audit.recent(action="cloud:logs") == []


def test_the_worker_takes_requests_from_the_link_handler(log_file: LmsLogFile, audit: Audit,
                                                         bucket: UploadSink) -> None:
    uploads = LogUploads(log_file.files, audit).start()
    try:
        uploads.handle("ct/demo/dev/site/s1/down/logs", _request(bucket.url, request_id="w1"))
        deadline = time.monotonic() + 10
        while uploads.stats.uploaded == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert uploads.stats.uploaded == 1
    finally:
        uploads.stop()
