"""The agent's log: one line per record to a rotating file in ``state_dir/logs`` and to stderr.

Line format (UTC), ``[log] format = "text"`` (the default)::

    2025-01-31T08:15:02.123Z INFO edge.agent.dispatcher [MainThread] command get_setting request_id=r1 ...

A traceback follows its record on continuation lines. With ``format = "json"`` each record is one JSON object
on one line (:mod:`shared.log_format`: ``timestamp``, ``level``, ..., ``agent_id``, a record's ``command_id``).

:meth:`LogFile.tail` serves ``get_logs``: the most recent lines of the current and previous file, optionally
only records at or above a level (in either format), bounded in count and bytes so the answer fits one MQTT
message. With a time range, :meth:`LogFile.lines_between` answers inline and :meth:`LogFile.files` is what an
upload to the cloud reads (shared/log_export.py, docs/logs.md).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.agent.config import LogSettings
from shared.log_format import formatter

if TYPE_CHECKING:
    from shared.log_export import LogRange

FORMAT = "%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s [%(threadName)s] %(message)s"
DATEFMT = "%Y-%m-%dT%H:%M:%S"
FILE_NAME = "agent.log"
MAX_TAIL_BYTES = 96 * 1024  # of log text in one get_logs answer
_READ_LIMIT = 4 * 1024 * 1024  # read at most this much of each file, from its end
#: the first line of a record: text, or JSON (whose ``timestamp`` and ``level`` come first, shared.log_format)
_RECORD_START = re.compile(r'^(?:\d{4}-\d{2}-\d{2}T\S+ |\{"timestamp":"[^"]*","level":")'
                           r"(DEBUG|INFO|WARNING|ERROR|CRITICAL)\b")
_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}


class _UtcFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return time.strftime(datefmt or DATEFMT, time.gmtime(record.created))


class RotatingFile(logging.FileHandler):
    """Size-based rotation like ``logging.handlers.RotatingFileHandler`` (``agent.log`` -> ``agent.log.1`` ->
    ... ``agent.log.<backups>``), without importing ``logging.handlers`` (which pulls in pickle, socket and
    queue: ~0.6 MB of an idle agent's memory for handlers it never uses)."""

    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        super().__init__(path, encoding="utf-8")
        self.max_bytes = max_bytes
        self.backups = backups

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if self.stream is None:
                self.stream = self._open()
            size = len(self.format(record).encode("utf-8", errors="replace")) + 1
            if self.stream.tell() + size > self.max_bytes and self.stream.tell() > 0:
                self.rotate()
        except Exception:
            self.handleError(record)
            return
        super().emit(record)

    def rotate(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None
        base = self.baseFilename
        for i in range(self.backups - 1, 0, -1):
            with contextlib.suppress(FileNotFoundError):
                os.replace(f"{base}.{i}", f"{base}.{i + 1}")
        with contextlib.suppress(FileNotFoundError):
            os.replace(base, f"{base}.1")
        self.stream = self._open()


class LogFile:
    """Owns the agent's log handlers; :meth:`close` removes them again. ``static``: the keys every JSON line
    carries (the agent's id)."""

    def __init__(self, directory: Path, settings: LogSettings, static: dict[str, str] | None = None) -> None:
        self.directory = Path(directory)
        self.settings = settings
        self.static = dict(static or {})
        self.path = self.directory / FILE_NAME
        self._handlers: list[logging.Handler] = []
        self._levels: dict[str, int] = {}

    def open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        line_format = formatter(self.settings.format, _UtcFormatter(FORMAT, DATEFMT), self.static)
        file_handler = RotatingFile(self.path, self.settings.max_bytes, self.settings.backups)
        self._handlers = [file_handler]
        if self.settings.stderr:
            self._handlers.append(logging.StreamHandler(sys.stderr))
        root = logging.getLogger()
        paho = logging.getLogger("paho")
        self._levels = {"": root.level, "paho": paho.level}
        for handler in self._handlers:
            handler.setFormatter(line_format)
            root.addHandler(handler)
        root.setLevel(self.settings.level)
        paho.setLevel(logging.WARNING)
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
        for name, level in self._levels.items():  # the levels :meth:`open` found, as they were
            logging.getLogger(name or None).setLevel(level)
        self._levels = {}

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

    def files(self) -> list[Path]:
        """The log file and its rotated copies, oldest first (what a range is read from)."""
        from shared.log_export import rotated_files  # with get_logs: loads pydantic (its LogRange)

        return rotated_files(self.path, self.settings.backups)

    def lines_between(self, wanted: LogRange, lines: int) -> dict[str, Any]:
        """The newest ``lines`` lines of ``wanted``'s range and level, at most ~96 KB (``get_logs`` inline)."""
        from shared.log_export import select

        picked = select(self.files(), wanted, max_read=MAX_TAIL_BYTES)
        kept = picked.lines[-lines:]
        return {"file": str(self.path), "lines": kept, "count": len(kept),
                "truncated": picked.truncated or len(kept) < len(picked.lines)}


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
