"""``get_logs`` with a range and an upload form, through the agent's dispatcher (docs/logs.md): the records of
the range gzipped to the form on the worker pool; a refused upload is the command's error, never a crash."""

from __future__ import annotations

import gzip
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.agent.config import LogSettings
from edge.agent.logfile import LogFile
from tests.fixtures.upload_sink import UploadSink, upload_sink
from tests.unit.agent.test_agent_dispatcher import Harness


@pytest.fixture
def logged(tmp_path: Path) -> Iterator[tuple[Harness, LogFile, UploadSink]]:
    logfile = LogFile(tmp_path / "logs", LogSettings(level="INFO", stderr=False))
    logfile.open()
    h = Harness(tmp_path)
    h.commands.logfile = logfile
    h.dispatcher.handlers = h.commands.table()
    try:
        with upload_sink() as sink:
            yield h, logfile, sink
    finally:
        h.pool.close()
        logfile.close()


def _form(sink: UploadSink) -> dict[str, Any]:
    return {"url": sink.url, "fields": {"key": "logs/s1/agents/pc-1/r.log.gz", "Content-Type": "application/gzip"}}


def test_a_range_is_uploaded_gzipped(logged: tuple[Harness, LogFile, UploadSink]) -> None:
    harness, _logfile, sink = logged
    since = time.time() - 1
    logging.getLogger("edge.agent.test").warning("wanted line")
    answer = harness.call("get_logs", {"since": since, "level": "WARNING", "upload": _form(sink)}, rid="up")
    assert answer.success, answer.error
    assert answer.data["uploaded"] is True and answer.data["key"] == "logs/s1/agents/pc-1/r.log.gz"
    body = sink.bodies[0]
    text = gzip.decompress(body[body.index(b"\x1f\x8b"):body.rindex(b"\r\n--")]).decode()
    assert "wanted line" in text and answer.data["lines"] == len(text.splitlines())


def test_a_refused_upload_is_the_commands_error(logged: tuple[Harness, LogFile, UploadSink]) -> None:
    harness, _logfile, sink = logged
    sink.status = 403
    answer = harness.call("get_logs", {"since": 0, "upload": _form(sink)}, rid="refused")
    assert not answer.success and answer.error_code == "invalid_params" and "403" in (answer.error or "")


def test_a_range_inline(logged: tuple[Harness, LogFile, UploadSink]) -> None:
    harness, _logfile, _sink = logged
    since = time.time() - 1
    logging.getLogger("edge.agent.test").info("inline line")
    answer = harness.call("get_logs", {"since": since, "lines": 5}, rid="inline")
    assert answer.success and any("inline line" in line for line in answer.data["lines"])
