"""The LMS's and the agent's log line format (shared/log_format.py): JSON lines carrying the fleet's keys."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.agent import config_structs
from edge.agent.config_models import LogSettings  # the pydantic model: its refusals are asserted
from edge.agent.logfile import LogFile
from shared.log_format import CONTEXT_KEYS, JsonFormatter, formatter
from shared.messages.structs import build

Capture = tuple[logging.Logger, io.StringIO, "logging.StreamHandler[io.StringIO]"]


@pytest.fixture
def capture() -> Iterator[Capture]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("tests.log_format")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream, handler
    logger.removeHandler(handler)
    logger.propagate = True


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_json_line_carries_the_static_keys_and_the_records_extras(capture: Capture) -> None:
    logger, stream, handler = capture
    handler.setFormatter(JsonFormatter({"service": "classtop-lms", "tenant": "district-a", "stage": "prod",
                                        "site_id": "school-1"}))
    logger.info("delivered %s to %s", "reboot", "pc-7", extra={"command_id": "c0ffee", "agent_id": "pc-7"})

    [entry] = lines(stream)
    assert {key: entry[key] for key in CONTEXT_KEYS} == {
        "command_id": "c0ffee", "tenant": "district-a", "site_id": "school-1", "agent_id": "pc-7"}
    assert entry["message"] == "delivered reboot to pc-7"
    assert entry["level"] == "INFO" and entry["logger"] == "tests.log_format" and entry["service"] == "classtop-lms"
    assert str(entry["timestamp"]).endswith("Z")
    assert list(entry)[:2] == ["timestamp", "level"]  # what the agent's log filter reads without parsing


def test_a_records_extra_wins_over_the_process_key_and_cannot_replace_the_base_keys(capture: Capture) -> None:
    logger, stream, handler = capture
    handler.setFormatter(JsonFormatter({"agent_id": "lms-default", "level": "forged"}))
    logger.warning("about another agent", extra={"agent_id": "pc-9", "logger": "forged", "attempt": 2,
                                                 "path": Path("/tmp/x")})

    [entry] = lines(stream)
    assert entry["agent_id"] == "pc-9"
    assert entry["level"] == "WARNING" and entry["logger"] == "tests.log_format"
    assert entry["attempt"] == 2 and entry["path"] == "/tmp/x"  # scalars kept, the rest as str()


def test_a_message_with_newlines_and_an_exception_stays_one_line(capture: Capture) -> None:
    logger, stream, handler = capture
    handler.setFormatter(JsonFormatter())
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("line one\nline two {\"level\": \"CRITICAL\"}")

    assert len(stream.getvalue().splitlines()) == 1
    [entry] = lines(stream)
    assert entry["message"] == 'line one\nline two {"level": "CRITICAL"}'
    assert entry["level"] == "ERROR" and entry["exception_name"] == "ValueError"
    assert "Traceback" in str(entry["exception"])


def test_text_stays_the_default_and_an_unknown_format_is_refused() -> None:
    text = logging.Formatter("%(message)s")
    assert formatter("text", text) is text
    assert isinstance(formatter("json", text, {"service": "x"}), JsonFormatter)
    with pytest.raises(ValueError, match="text, json"):
        formatter("xml", text)  # type: ignore[arg-type]


def test_agent_log_file_in_json_carries_the_agent_id_and_filters_by_level(tmp_path: Path) -> None:
    settings = build(config_structs.LogSettings, level="DEBUG", stderr=False, max_bytes=64 * 1024, backups=2,
                     format="json")
    logfile = LogFile(tmp_path / "logs", settings, static={"service": "classtop-agent", "agent_id": "pc-7"})
    logfile.open()
    try:
        log = logging.getLogger("edge.agent.test")
        log.debug("quiet")
        log.info("command reboot started", extra={"command_id": "c0ffee"})
        log.error("command reboot failed\nwith a second line", extra={"command_id": "c0ffee"})
        entries = [json.loads(line) for line in logfile.path.read_text().splitlines()]
        errors = logfile.tail(10, level="ERROR")["lines"]
    finally:
        logfile.close()

    ours = [e for e in entries if e["logger"] == "edge.agent.test"]
    assert [e["message"] for e in ours] == ["quiet", "command reboot started",
                                            "command reboot failed\nwith a second line"]
    assert all(e["agent_id"] == "pc-7" and e["service"] == "classtop-agent" for e in ours)
    assert [e.get("command_id") for e in ours] == [None, "c0ffee", "c0ffee"]
    assert [json.loads(line)["message"] for line in errors] == ["command reboot failed\nwith a second line"]


def test_agent_and_lms_configs_take_the_format_and_refuse_others() -> None:
    from pydantic import ValidationError

    from edge.lms.config.lms_config import LogSettings as LmsLogSettings

    assert LogSettings().format == "text" and LmsLogSettings().format == "text"
    assert LogSettings(format="json").format == "json" and LmsLogSettings(format="json").format == "json"
    for model in (LogSettings, LmsLogSettings):
        with pytest.raises(ValidationError):
            model(format="xml")
