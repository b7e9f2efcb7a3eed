"""The agent's log file (get_logs) and its metrics sampler."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.agent.config import LogSettings
from edge.agent.logfile import LogFile
from edge.agent.metrics import MetricsSampler, disks
from shared.log_export import LogRange
from shared.messages import Metrics, decode, structs


@pytest.fixture
def logfile(tmp_path: Path) -> Iterator[LogFile]:
    lf = LogFile(tmp_path / "logs", LogSettings(level="DEBUG", stderr=False, max_bytes=64 * 1024, backups=2))
    lf.open()
    yield lf
    lf.close()


def test_tail_and_level_filter(logfile: LogFile) -> None:
    log = logging.getLogger("edge.agent.test")
    log.debug("debug one")
    log.info("info two")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("error three")
    log.warning("warning four")

    everything = logfile.tail(100)
    text = "\n".join(everything["lines"])
    assert "debug one" in text and "Traceback" in text
    assert everything["lines"][-1].endswith("warning four")

    warnings = logfile.tail(100, "WARNING")["lines"]
    assert not any("info two" in line or "debug one" in line for line in warnings)
    assert any("error three" in line for line in warnings)
    assert any("ValueError: boom" in line for line in warnings)  # the traceback follows its record

    assert logfile.tail(1)["lines"] == everything["lines"][-1:]


def test_tail_reads_across_rotation_and_is_bounded(logfile: LogFile) -> None:
    log = logging.getLogger("edge.agent.test")
    for i in range(2000):
        log.info("line %05d %s", i, "x" * 60)
    assert logfile.path.with_name("agent.log.1").exists()
    result = logfile.tail(5000)
    assert result["lines"][-1].split()[-2] == "01999"
    numbers = [int(line.split()[-2]) for line in result["lines"] if " line " in line]
    assert numbers == sorted(numbers)
    assert sum(len(line) + 1 for line in result["lines"]) <= 96 * 1024 + 200


def test_metrics_sample_is_a_valid_message() -> None:
    sampler = MetricsSampler()
    time.sleep(0.1)
    first = sampler.sample()
    second = sampler.sample()
    for sample in (first, second):
        again = decode(Metrics, structs.encode(sample))  # the agent's mirror on the wire, read by the model
        assert 0 <= again.cpu_percent <= 100 and again.mem_total > 0
    assert second.net_rx_bps is None or second.net_rx_bps >= 0
    assert all(d.mount.startswith("/") for d in disks())


def test_rotation_keeps_the_configured_number_of_files(tmp_path: Path) -> None:
    lf = LogFile(tmp_path / "logs", LogSettings(level="INFO", stderr=False, max_bytes=64 * 1024, backups=2))
    lf.open()
    try:
        log = logging.getLogger("edge.agent.rotation")
        for i in range(6000):
            log.info("rotating %05d %s", i, "y" * 60)
    finally:
        lf.close()
    names = sorted(p.name for p in (tmp_path / "logs").iterdir())
    assert names == ["agent.log", "agent.log.1", "agent.log.2"]
    assert all(p.stat().st_size <= 64 * 1024 for p in (tmp_path / "logs").iterdir())
    newest = (tmp_path / "logs" / "agent.log").read_text().splitlines()[-1]
    older = (tmp_path / "logs" / "agent.log.1").read_text().splitlines()[-1]
    assert newest.split()[-2] == "05999" and int(older.split()[-2]) < 5999


def test_lines_between_selects_a_time_range(logfile: LogFile) -> None:
    """``get_logs`` with ``since``/``until`` inline: the records of that range (the upload variant reads the same
    files: tests/unit/shared/test_log_export.py)."""
    log = logging.getLogger("edge.agent.test")
    log.info("before")
    time.sleep(0.01)
    since = time.time()
    log.warning("inside one")
    log.info("inside two")
    until = time.time()
    time.sleep(0.01)
    log.info("after")
    picked = logfile.lines_between(LogRange(since=since - 0.001, until=until + 0.001), lines=100)
    assert [line.rsplit(" ", 2)[-2:] for line in picked["lines"]] == [["inside", "one"], ["inside", "two"]]
    assert logfile.lines_between(LogRange(since=since - 0.001, level="WARNING"), 100)["count"] == 1
    assert logfile.files() == [logfile.path]


def test_close_restores_the_log_levels_open_found(tmp_path: Path) -> None:
    root, paho = logging.getLogger(), logging.getLogger("paho")
    before = (root.level, paho.level)
    root.setLevel(logging.ERROR)
    paho.setLevel(logging.NOTSET)
    try:
        lf = LogFile(tmp_path / "logs", LogSettings(level="DEBUG", stderr=False, max_bytes=64 * 1024, backups=2))
        lf.open()
        assert (root.level, paho.level) == (logging.DEBUG, logging.WARNING)
        lf.close()
        assert (root.level, paho.level) == (logging.ERROR, logging.NOTSET)
        assert not lf.is_open
    finally:
        root.setLevel(before[0])
        paho.setLevel(before[1])
