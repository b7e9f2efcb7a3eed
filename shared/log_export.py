"""Logs on request: pick a time range of an agent's or an LMS's log files, gzip it under a size cap, and upload it
through a presigned S3 POST that the cloud made (docs/logs.md).

* :class:`LogRange` is what a request selects (``since``/``until`` in epoch seconds, the least ``level``, the
  compressed size cap ``max_bytes``); the ``get_logs`` command's parameters and the LMS's ``log_request`` message
  both carry it.
* :class:`PresignedPost` is the upload: S3's POST policy binds the one object key, the ``Content-Type``, the
  compressed size (``content-length-range``) and a short expiry, so the holder can write that key and nothing
  else. Only the cloud makes one; the LMS's local API refuses a ``get_logs`` naming ``upload`` (a site operator
  could otherwise make an agent send its logs, or a request, to any URL).
* :func:`select` reads the files oldest first (``name.N`` ... ``name.1``, ``name``) and keeps the records in the
  range at or above the level (continuation lines, such as a traceback's, follow their record). A record is a
  line that starts with the UTC stamp of the project's text format (``2025-01-31T08:15:02.123Z LEVEL ...``) or a
  JSON object with a time (``time``, ``timestamp``, ``ts``, ``@timestamp`` or ``asctime``: epoch seconds or ISO 8601,
  UTC unless it says otherwise) and a level (``level`` or ``levelname``).
* :func:`gzip_capped` keeps the newest lines whose gzip fits ``max_bytes``; :func:`upload` POSTs it.
"""

from __future__ import annotations

import gzip
import json
import re
import urllib.error
import urllib.request
import uuid
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from pydantic import Field, field_validator, model_validator

from shared.errors import ErrorCode, SharedError
from shared.messages.base import Strict

LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
LEVEL_PATTERN = r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL)$"
#: the compressed object's size: default and ceiling (the presigned POST's ``content-length-range`` says the same)
DEFAULT_MAX_BYTES = 2 * 1024 * 1024
MAX_BYTES = 20 * 1024 * 1024
MIN_BYTES = 1024
CONTENT_TYPE = "application/gzip"
#: the widest range one request may ask for
MAX_RANGE_S = 31 * 86400
#: text read from a host's log files per request, at most (newest kept)
MAX_READ_BYTES = 256 * 1024 * 1024
UPLOAD_TIMEOUT_S = 60.0
_MAX_FIELDS = 16

_TEXT_RECORD = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?)Z (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")
#: JSON lines: where the time and the level are (aws-lambda-powertools: timestamp/level; python-json-logger:
#: asctime/levelname; ECS: @timestamp/log.level is not read)
_TIME_KEYS = ("time", "timestamp", "ts", "@timestamp", "asctime")
_LEVEL_KEYS = ("level", "levelname")


class LogUploadError(SharedError):
    """The logs could not be read or uploaded; ``code`` says whether the request (4xx) or the path was at fault."""


class PresignedPost(Strict):
    """An S3 presigned POST (``generate_presigned_post``): the form's URL and its fields, the file goes last."""

    url: str = Field(max_length=2048, pattern=r"^https?://[^\s]+$", description="the bucket's POST URL")
    fields: dict[str, str] = Field(description="form fields (key, policy, signature...), sent before the file")

    @field_validator("fields")
    @classmethod
    def _fields(cls, v: dict[str, str]) -> dict[str, str]:
        if not 1 <= len(v) <= _MAX_FIELDS:
            raise ValueError(f"1..{_MAX_FIELDS} form fields")
        for name, value in v.items():
            if not re.match(r"^[A-Za-z0-9_-]{1,64}$", name) or len(value) > 8192 or any(c in value for c in "\r\n"):
                raise ValueError(f"invalid form field {name[:64]!r}")
        if "key" not in v:
            raise ValueError("the form fields name no object key")
        return v


class LogRange(Strict):
    """Which records: ``since`` <= time <= ``until`` (epoch s; open ends allowed), at or above ``level``."""

    since: float | None = Field(default=None, ge=0, description="records at or after (epoch s)")
    until: float | None = Field(default=None, ge=0, description="records at or before (epoch s)")
    level: str | None = Field(default=None, pattern=LEVEL_PATTERN, description="the least level kept")
    max_bytes: int = Field(default=DEFAULT_MAX_BYTES, ge=MIN_BYTES, le=MAX_BYTES,
                           description="the gzip object at most this big: the newest records that fit")

    @model_validator(mode="after")
    def _order(self) -> Self:
        if self.since is not None and self.until is not None:
            if self.since > self.until:
                raise ValueError("since is after until")
            if self.until - self.since > MAX_RANGE_S:
                raise ValueError(f"since..until spans more than {MAX_RANGE_S // 86400} days")
        return self


@dataclass(frozen=True, slots=True)
class Selection:
    lines: list[str]
    #: older records of the range were left out (more than :data:`MAX_READ_BYTES`, or than ``max_bytes``)
    truncated: bool


@dataclass(frozen=True, slots=True)
class Export:
    body: bytes
    lines: int
    truncated: bool


def rotated_files(path: Path, backups: int) -> list[Path]:
    """``path`` and its rotated copies, oldest first (``path.N`` ... ``path.1``, ``path``), those that exist."""
    candidates = [path.with_name(f"{path.name}.{i}") for i in range(backups, 0, -1)] + [path]
    return [p for p in candidates if p.is_file()]


def record_of(line: str) -> tuple[float, int] | None:
    """``(time, level)`` when ``line`` starts a record, else ``None`` (a continuation line)."""
    match = _TEXT_RECORD.match(line)
    if match:
        stamp = datetime.strptime(match.group(1)[:26], "%Y-%m-%dT%H:%M:%S.%f" if "." in match.group(1)
                                  else "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
        return stamp.timestamp(), LEVELS[match.group(2)]
    if line.startswith("{"):
        return _json_record(line)
    return None


def _json_record(line: str) -> tuple[float, int] | None:
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    level = LEVELS.get(str(next((data[k] for k in _LEVEL_KEYS if k in data), "")).upper())
    at = next((data[k] for k in _TIME_KEYS if k in data), None)
    if level is None or at is None:
        return None
    if isinstance(at, int | float) and not isinstance(at, bool):
        return float(at), level
    if isinstance(at, str):
        try:
            parsed = datetime.fromisoformat(at.replace("Z", "+00:00"))
        except ValueError:
            return None
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp(), level
    return None


def select(files: Sequence[Path], wanted: LogRange, *, max_read: int = MAX_READ_BYTES) -> Selection:
    """The lines of the records in ``wanted``'s range and level from ``files`` (oldest first), newest kept when
    there are more than ``max_read`` bytes of them."""
    minimum = LEVELS[wanted.level] if wanted.level else 0
    since = wanted.since if wanted.since is not None else float("-inf")
    until = wanted.until if wanted.until is not None else float("inf")
    kept: deque[str] = deque()
    size = 0
    truncated = False
    keep = False
    for line in _lines(files):
        record = record_of(line)
        if record is not None:
            at, level = record
            keep = since <= at <= until and level >= minimum
        if not keep:
            continue
        kept.append(line)
        size += len(line) + 1
        while size > max_read and kept:
            size -= len(kept.popleft()) + 1
            truncated = True
    return Selection(list(kept), truncated)


def _lines(files: Iterable[Path]) -> Iterator[str]:
    for path in files:
        try:
            with path.open("r", encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    yield line.rstrip("\r\n")
        except FileNotFoundError:  # rotated away while we read
            continue
        except OSError as exc:
            raise LogUploadError(f"cannot read {path}: {exc}", code=ErrorCode.INTERNAL) from None


def gzip_capped(lines: Sequence[str], max_bytes: int) -> Export:
    """gzip of the newest of ``lines`` whose compressed size is at most ``max_bytes``."""
    start = 0
    truncated = False
    for _ in range(32):
        body = gzip.compress("".join(f"{line}\n" for line in lines[start:]).encode("utf-8", errors="replace"),
                             compresslevel=6, mtime=0)
        if len(body) <= max_bytes or start >= len(lines):
            return Export(body, len(lines) - start, truncated)
        kept = len(lines) - start
        # drop the oldest lines in proportion to the excess, at least one
        drop = max(1, kept - int(kept * max_bytes / len(body) * 0.95))
        start = min(len(lines), start + drop)
        truncated = True
    return Export(gzip.compress(b"", mtime=0), 0, True)


def export(files: Sequence[Path], wanted: LogRange) -> Export:
    selection = select(files, wanted)
    result = gzip_capped(selection.lines, wanted.max_bytes)
    return Export(result.body, result.lines, result.truncated or selection.truncated)


def upload(post: PresignedPost, body: bytes, *, filename: str = "logs.log.gz",
           timeout: float = UPLOAD_TIMEOUT_S) -> int:
    """POST ``body`` as the form's file; the HTTP status, or :class:`LogUploadError` (4xx: ``invalid_params``, an
    expired or refused form; otherwise ``internal``)."""
    boundary = f"----ctlogs{uuid.uuid4().hex}"
    parts: list[bytes] = []
    fields: dict[str, Any] = dict(post.fields)
    fields.setdefault("Content-Type", CONTENT_TYPE)
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                 f"Content-Type: {fields['Content-Type']}\r\n\r\n".encode())
    parts.append(body)
    parts.append(f"\r\n--{boundary}--\r\n".encode())
    request = urllib.request.Request(post.url, data=b"".join(parts), method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        code = ErrorCode.INVALID_PARAMS if 400 <= exc.code < 500 else ErrorCode.INTERNAL
        raise LogUploadError(f"log upload refused: HTTP {exc.code} {exc.reason}", code=code) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise LogUploadError(f"log upload failed: {reason}", code=ErrorCode.INTERNAL) from None


def export_and_upload(files: Sequence[Path], wanted: LogRange, post: PresignedPost) -> dict[str, Any]:
    """Select, compress and upload; what the agent answers and the LMS logs."""
    result = export(files, wanted)
    status = upload(post, result.body)
    return {"uploaded": True, "status": status, "key": post.fields["key"], "lines": result.lines,
            "bytes": len(result.body), "truncated": result.truncated}
