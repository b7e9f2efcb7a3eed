"""Logs on request, the part both hosts share: which lines a range selects, the gzip under a cap, the presigned
POST's shape and the upload's errors (shared/log_export.py)."""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from paho.mqtt.client import topic_matches_sub
from pydantic import ValidationError

from shared import topics
from shared.commands import validate_params
from shared.errors import CommandError, ErrorCode, SharedError
from shared.log_export import (
    LogRange,
    LogUploadError,
    PresignedPost,
    export,
    gzip_capped,
    record_of,
    rotated_files,
    select,
    upload,
)
from shared.messages import LogRequest, decode, encode
from shared.names import Namespace
from shared.topics import SiteDown
from tests.fixtures.upload_sink import UploadSink, upload_sink

#: 2023-11-14T22:13:20Z
T0 = 1_700_000_000


def _stamp(offset_s: float) -> str:
    at = datetime.fromtimestamp(T0 + offset_s, UTC)
    return f"{at:%Y-%m-%dT%H:%M:%S}.{at.microsecond // 1000:03d}Z"


def _write(path: Path, records: list[tuple[float, str, str]]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for offset, level, text in records:
            fh.write(f"{_stamp(offset)} {level} edge.agent.test [MainThread] {text}\n")


@pytest.fixture
def files(tmp_path: Path) -> list[Path]:
    log = tmp_path / "agent.log"
    _write(log.with_name("agent.log.2"), [(0, "INFO", "oldest"), (10, "DEBUG", "debug early")])
    _write(log.with_name("agent.log.1"), [(100, "INFO", "in range one"), (110, "ERROR", "error in range")])
    with log.with_name("agent.log.1").open("a") as fh:
        fh.write("Traceback (most recent call last):\nValueError: boom\n")
    _write(log, [(200, "WARNING", "in range two"), (300, "INFO", "after the range")])
    return rotated_files(log, backups=5)


def test_rotated_files_are_oldest_first(files: list[Path]) -> None:
    assert [p.name for p in files] == ["agent.log.2", "agent.log.1", "agent.log"]


def test_record_of_reads_text_and_json_lines() -> None:
    assert record_of(f"{_stamp(1.5)} ERROR x [t] m") == (T0 + 1.5, 40)
    assert record_of("2023-11-14T22:13:20Z INFO x m") == (T0, 20)
    assert record_of('{"time": 1700000000.25, "level": "warning", "message": "m"}') == (T0 + 0.25, 30)
    assert record_of('{"timestamp": "2023-11-14T22:13:20Z", "level": "INFO"}') == (T0, 20)
    assert record_of('{"asctime": "2023-11-14T22:13:20+00:00", "levelname": "ERROR", "x": 1}') == (T0, 40)
    assert record_of('{"@timestamp": "2023-11-14T23:13:20+01:00", "level": "debug"}') == (T0, 10)
    for continuation in ("Traceback (most recent call last):", "  File x", '{"no": "level"}', "{broken", ""):
        assert record_of(continuation) is None


def test_select_keeps_the_range_and_level_with_continuations(files: list[Path]) -> None:
    picked = select(files, LogRange(since=T0 + 100, until=T0 + 250))
    text = "\n".join(picked.lines)
    assert "in range one" in text and "error in range" in text and "in range two" in text
    assert "ValueError: boom" in text  # the traceback follows its record
    assert "oldest" not in text and "after the range" not in text and not picked.truncated

    errors = select(files, LogRange(since=T0 + 100, until=T0 + 250, level="ERROR")).lines
    assert errors[0].endswith("error in range") and errors[1:] == ["Traceback (most recent call last):",
                                                                   "ValueError: boom"]
    assert len(select(files, LogRange()).lines) == 8  # open ends: everything


def test_select_keeps_the_newest_within_the_read_limit(files: list[Path]) -> None:
    picked = select(files, LogRange(), max_read=120)
    assert picked.truncated and picked.lines[-1].endswith("after the range")
    assert sum(len(line) + 1 for line in picked.lines) <= 120


def test_gzip_capped_keeps_the_newest_lines_under_the_cap() -> None:
    rng = random.Random(4)
    lines = [f"line {i:05d} " + "".join(rng.choice("abcdefghijklmnop") for _ in range(80)) for i in range(5000)]
    whole = gzip_capped(lines, 10 * 1024 * 1024)
    assert not whole.truncated and whole.lines == 5000
    assert gzip.decompress(whole.body).decode().splitlines() == lines
    capped = gzip_capped(lines, 8 * 1024)
    assert capped.truncated and len(capped.body) <= 8 * 1024 and 0 < capped.lines < 5000
    kept = gzip.decompress(capped.body).decode().splitlines()
    assert kept == lines[-capped.lines:]  # the newest, in order


def test_export_of_nothing_is_an_empty_gzip(files: list[Path]) -> None:
    result = export(files, LogRange(since=T0 + 5000))
    assert result.lines == 0 and gzip.decompress(result.body) == b""


@pytest.mark.parametrize("params", [
    {"since": T0 + 10, "until": T0},  # reversed
    {"since": 0, "until": 40 * 86400},  # wider than 31 days
    {"level": "LOUD"},
    {"max_bytes": 10},
    {"max_bytes": 100 * 1024 * 1024},
    {"upload": {"url": "file:///etc/passwd", "fields": {"key": "k"}}},
    {"upload": {"url": "https://b.example/", "fields": {}}},
    {"upload": {"url": "https://b.example/", "fields": {"policy": "p"}}},  # no key
    {"upload": {"url": "https://b.example/", "fields": {"key": "k\r\nX-Injected: 1"}}},
    {"upload": {"url": "https://b.example/", "fields": {"key": "k"}, "extra": 1}},
])
def test_bad_get_logs_params_are_refused(params: dict[str, object]) -> None:
    with pytest.raises(CommandError) as caught:
        validate_params("get_logs", params)
    assert caught.value.code is ErrorCode.INVALID_PARAMS


def test_old_get_logs_params_still_validate() -> None:
    parsed = validate_params("get_logs", {"lines": 10, "level": "ERROR"})
    assert parsed.model_dump(exclude_unset=True) == {"lines": 10, "level": "ERROR"}


@pytest.fixture
def sink() -> Iterator[UploadSink]:
    with upload_sink() as made:
        yield made


def test_upload_posts_the_fields_then_the_file(sink: UploadSink) -> None:
    post = PresignedPost(url=sink.url, fields={"key": "logs/s1/agents/a1/r1.log.gz", "policy": "cG9s",
                                             "Content-Type": "application/gzip"})
    assert upload(post, b"GZIPDATA") == 204
    body = sink.bodies[0]
    assert body.index(b'name="key"') < body.index(b'name="policy"') < body.index(b'name="file"')
    assert b"logs/s1/agents/a1/r1.log.gz" in body and b"\r\n\r\nGZIPDATA\r\n" in body


@pytest.mark.parametrize(("status", "code"), [(403, ErrorCode.INVALID_PARAMS), (500, ErrorCode.INTERNAL)])
def test_upload_refused_is_an_error(sink: UploadSink, status: int, code: ErrorCode) -> None:
    sink.status = status
    with pytest.raises(LogUploadError) as caught:
        upload(PresignedPost(url=sink.url, fields={"key": "k"}), b"x")
    assert caught.value.code is code and str(status) in caught.value.message


def test_upload_to_nowhere_is_an_error() -> None:
    with pytest.raises(LogUploadError) as caught:
        upload(PresignedPost(url="http://127.0.0.1:9/bucket", fields={"key": "k"}), b"x", timeout=5)
    assert caught.value.code is ErrorCode.INTERNAL


def test_presigned_post_model_is_strict() -> None:
    with pytest.raises(ValidationError):
        PresignedPost.model_validate({"url": "https://b.example/", "fields": {"key": "k"}, "method": "PUT"})


def test_log_request_topic_and_message_round_trip() -> None:
    topic = topics.site_down(Namespace("d1", "dev"), "s1", SiteDown.LOGS)
    assert topic == "ct/d1/dev/site/s1/down/logs" and topics.parse(topic).build() == topic
    assert topic_matches_sub(topics.site_down_filter(Namespace("d1", "dev"), "s1"), topic)
    message = LogRequest(request_id="r1", since=T0, until=T0 + 60, level="INFO", max_bytes=4096,
                         upload=PresignedPost(url="https://b.example/", fields={"key": "logs/s1/lms/r1.log.gz"}),
                         expires_at=T0 + 300)
    assert decode(LogRequest, encode(message)) == message
    for bad in ({"type": "command"}, {"v": 2}, {"surprise": 1}, {"upload": None}):
        with pytest.raises(SharedError):
            decode(LogRequest, json.dumps({**message.model_dump(mode="json"), **bad}))
