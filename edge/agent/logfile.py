"""The agent's log: one line per record to a rotating file in ``state_dir/logs`` and to stderr.

Line format (UTC)::

    2025-01-31T08:15:02.123Z INFO edge.agent.dispatcher [MainThread] command get_setting request_id=r1 ...

A traceback follows its record on continuation lines. :meth:`LogFile.tail` serves ``get_logs``: the most
recent lines of the current and previous file, optionally only records at or above a level, bounded in
count and bytes so the answer fits one MQTT message.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from edge.agent.config import LogSettings

FORMAT = "%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s [%(threadName)s] %(message)s"
DATEFMT = "%Y-%m-%dT%H:%M:%S"
FILE_NAME = "agent.log"
MAX_TAIL_BYTES = 96 * 1024  # of log text in one get_logs answer
_READ_LIMIT = 4 * 1024 * 1024  # read at most this much of each file, from its end
_RECORD_START = re.compile(r"^\d{4}-\d{2}-\d{2}T\S+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")
_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}


class _UtcFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return time.strftime(datefmt or DATEFMT, time.gmtime(record.created))


class LogFile:
    """Owns the agent's log handlers; :meth:`close` removes them again."""

    def __init__(self, directory: Path, settings: LogSettings) -> None:
        self.directory = Path(directory)
        self.settings = settings
        self.path = self.directory / FILE_NAME
        self._handlers: list[logging.Handler] = []

    def open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        formatter = _UtcFormatter(FORMAT, DATEFMT)
        file_handler = logging.handlers.RotatingFileHandler(
            self.path, maxBytes=self.settings.max_bytes, backupCount=self.settings.backups, encoding="utf-8"
        )
        self._handlers = [file_handler]
        if self.settings.stderr:
            self._handlers.append(logging.StreamHandler(sys.stderr))
        root = logging.getLogger()
        for handler in self._handlers:
            handler.setFormatter(formatter)
            root.addHandler(handler)
        root.setLevel(self.settings.level)
        logging.getLogger("paho").setLevel(logging.WARNING)
        logging.captureWarnings(True)

    @property
    def is_open(self) -> bool:
        return bool(self._handlers)

    def close(self) -> None:
        root = logging.getLogger()
        for handler in self._handlers:
            root.removeHandler(handler)
            handler.close()
        self._handlers = []

    def tail(self, lines: int, level: str | None = None) -> dict[str, Any]:
        """The last ``lines`` lines (of records at or above ``level``), oldest first, at most ~96 KB."""
        minimum = _LEVELS[level] if level else 0
        picked: list[str] = []
        budget = MAX_TAIL_BYTES
        truncated = False
        for path in (self.path, self.path.with_name(f"{FILE_NAME}.1")):
            older = _filter(_read_tail(path), minimum)
            for line in reversed(older):
                if len(picked) >= lines:
                    break
                size = len(line.encode()) + 1
                if size > budget:
                    truncated = True
                    break
                budget -= size
                picked.append(line)
            if len(picked) >= lines or truncated:
                break
        picked.reverse()
        return {"file": str(self.path), "lines": picked, "count": len(picked), "truncated": truncated}


def _read_tail(path: Path) -> list[str]:
    try:
        with path.open("rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            start = max(0, size - _READ_LIMIT)
            fh.seek(start)
            raw = fh.read()
    except FileNotFoundError:
        return []
    text = raw.decode("utf-8", errors="replace")
    result = text.splitlines()
    if start > 0 and result:
        result = result[1:]  # first line is probably cut
    return result


def _filter(lines: list[str], minimum: int) -> list[str]:
    """Keep lines of records at or above ``minimum``; continuation lines follow their record."""
    if minimum <= 0:
        return lines
    kept: list[str] = []
    keep = False
    for line in lines:
        match = _RECORD_START.match(line)
        if match:
            keep = _LEVELS[match.group(1)] >= minimum
        if keep:
            kept.append(line)
    return kept
