"""The log line format of the LMS and the agent (``[log] format``): ``text`` (the default) or ``json``.

A JSON line is one object per record, on one line whatever the message holds:

* ``timestamp`` (UTC, ISO 8601 with milliseconds, ``Z``) and ``level`` first, always in that order (a reader
  can filter by level without parsing the line: ``edge/agent/logfile.py``), then ``logger``, ``thread``,
  ``message``;
* the process's own keys, given once: ``service`` and what it knows of itself (the LMS its ``tenant``,
  ``stage`` and ``site_id``, the agent its ``agent_id``);
* the record's extras (``log.info("...", extra={"command_id": c, "agent_id": a})``), which win over the
  process's keys: an LMS line about one agent carries that agent's ``agent_id``. :data:`CONTEXT_KEYS` are the
  keys the fleet agrees on; any other scalar extra is kept too, others are written with ``str()``;
* ``exception`` and ``exception_name`` when the record has one, ``stack`` when it has a stack.

The cloud functions write the same keys through aws-lambda-powertools (``cloud/chalicelib/observability.py``),
so one query (``command_id = "..."``) finds a command's lines in every tier.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import Any, Literal

#: the keys a log line uses to say which command, tenant, site and agent it concerns (cloud, LMS and agent)
CONTEXT_KEYS = ("command_id", "tenant", "site_id", "agent_id")

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")

#: a record's own attributes, never extras (``taskName``: Python 3.12+; ``color_message``: uvicorn's coloured copy
#: of its message)
_RECORD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message", "asctime", "taskName", "color_message",
}
_BASE_KEYS = ("timestamp", "level", "logger", "thread", "message")


def _scalar(value: Any) -> Any:
    return value if value is None or isinstance(value, str | int | float | bool) else str(value)


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module's docstring). ``static``: the process's own keys."""

    def __init__(self, static: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.static = {key: _scalar(value) for key, value in (static or {}).items() if key not in _BASE_KEYS}

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        entry: dict[str, Any] = {
            "timestamp": f"{stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "thread": record.threadName,
            "message": record.getMessage(),
            **self.static,
        }
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES and key not in _BASE_KEYS and not key.startswith("_"):
                entry[key] = _scalar(value)
        if record.exc_info and record.exc_info[0] is not None:
            entry["exception"] = self.formatException(record.exc_info)
            entry["exception_name"] = record.exc_info[0].__name__
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, separators=(",", ":"), default=str)


def formatter(log_format: LogFormat, text: logging.Formatter,
              static: Mapping[str, Any] | None = None) -> logging.Formatter:
    """The formatter of a process's handlers: ``text`` as given, or a :class:`JsonFormatter` with ``static``."""
    if log_format == "json":
        return JsonFormatter(static)
    if log_format == "text":
        return text
    raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")
