"""The agent's durable journal of the cloud's commands: each one that started here, and its answer once it ended.

A command that carries the cloud's ``command_id`` may reach this agent more than once: the LMS asks again after
its own restart, after a site broker restart, or when an answer did not come in time, because it cannot know
whether the first request (or its answer) was lost (docs/architecture.md#delivery-of-commands-and-results).
The journal makes that safe, keyed by ``command_id`` (one cloud command is one request per agent):

* a command already answered is **not run again**: its stored answer is sent once more, under the request id of
  the new request (the LMS correlates by request id);
* a command still running in this process is ignored (its answer follows);
* a command that started in an earlier run of the agent and never ended (the agent was killed while it ran) is
  answered ``failed`` (``interrupted``) and not run again: nothing runs twice, and the LMS gets a terminal answer;
* a ``busy`` answer (no command slot was free: nothing ran) is not kept, so the next request runs it;
* when it started is kept (:meth:`CommandJournal.started_at`): an answer sent again is preceded by the command's
  ``running`` progress with that time, since the LMS that asks again may have lost the first one (it was killed
  after receiving it, before passing it on).

**File format** (``state_dir/command-journal.log``, one record per line): ``s\\t<command_id>\\t<epoch seconds>``
started (older files: without the time), ``a\\t<command_id>\\t<response JSON>`` answered. A line cut short by a
crash is ignored. At open the file is replayed and rewritten with the newest :data:`MAX_ENTRIES` commands; it is
compacted again when it grows past ``max_bytes``. Writes reach the operating system at once (a crash of the agent
loses nothing), without an ``fsync`` each (as the outbox: :mod:`edge.agent.outbox`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import BinaryIO

import msgspec

from shared.errors import ErrorCode, MessageError
from shared.messages.structs import Response, decode, encode, response_fail

log = logging.getLogger(__name__)

#: Commands remembered (the newest); the LMS asks again within a command's delivery window, far fewer than this.
MAX_ENTRIES = 1024
#: The file is compacted when it grows past this many bytes.
MAX_BYTES = 16 * 1024 * 1024
INTERRUPTED = "interrupted: the agent stopped while the command ran; it is not run again"

_RUNNING = b""  # the value of a command started in this process and not answered yet


class CommandJournal:
    """Thread-safe. ``begin`` before running a command, ``answer`` with its response, ``forget`` a ``busy`` one."""

    def __init__(self, path: Path, *, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES) -> None:
        self.path = Path(path)
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        #: command id -> the encoded answer, or _RUNNING
        self._entries: OrderedDict[str, bytes] = OrderedDict()
        #: command id -> when it started (wall clock), for the entries that say
        self._started: dict[str, float] = {}
        self._fh: BinaryIO | None = None
        self._size = 0
        self.interrupted: list[str] = []  # command ids found started but never answered at open
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._replay()
        self._rewrite()
        if self.interrupted:
            log.warning("command journal: %d command(s) were running when the agent stopped: answered %r",
                        len(self.interrupted), INTERRUPTED)  # fmt: skip

    # ------------------------------------------------------------ the dispatcher's side

    def begin(self, command_id: str, request_id: str) -> Response | bool:
        """True: new, now recorded as started (run it). False: running in this process (ignore the request).
        A response: answered before (send it again; it carries ``request_id``)."""
        with self._lock:
            prior = self._entries.get(command_id)
            if prior is None:
                now = time.time()
                self._started[command_id] = now
                self._put(command_id, _RUNNING, _started_record(command_id.encode(), now))
                return True
            if prior == _RUNNING:
                return False
        try:
            stored = decode(Response, prior)
        except MessageError:  # cannot happen for what answer() wrote; never run the command again for it
            stored = response_fail(request_id, ErrorCode.INTERNAL, "the stored answer cannot be read")
        return msgspec.structs.replace(stored, request_id=request_id)

    def started_at(self, command_id: str) -> float | None:
        """When the command started on this agent (its wall clock), if the journal knows."""
        with self._lock:
            return self._started.get(command_id)

    def answer(self, command_id: str, response: Response) -> None:
        """Record the command's answer (a ``busy`` one is forgotten instead: nothing ran)."""
        if response.error_code is ErrorCode.BUSY:
            self.forget(command_id)
            return
        payload = encode(response)
        with self._lock:
            self._put(command_id, payload, b"a\t" + command_id.encode() + b"\t" + payload + b"\n")

    def forget(self, command_id: str) -> None:
        with self._lock:
            self._started.pop(command_id, None)
            if self._entries.pop(command_id, None) is not None:
                self._write(b"f\t" + command_id.encode() + b"\n")

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None

    # ------------------------------------------------------------ file

    def _put(self, command_id: str, value: bytes, record: bytes) -> None:
        self._entries[command_id] = value
        self._entries.move_to_end(command_id)
        while len(self._entries) > self.max_entries:
            self._started.pop(self._entries.popitem(last=False)[0], None)
        self._write(record)
        if self._size > self.max_bytes:
            self._rewrite()

    def _write(self, record: bytes) -> None:
        if self._fh is None:
            return
        try:
            self._fh.write(record)
            self._fh.flush()
            self._size += len(record)
        except OSError as exc:  # a full disk: the journal is a safety net, commands still run
            log.error("command journal %s: %s", self.path, exc.strerror or exc)

    def _replay(self) -> None:
        with contextlib.suppress(FileNotFoundError), open(self.path, "rb") as fh:
            for line in fh:
                if not line.endswith(b"\n"):
                    break  # cut short by a crash
                kind, _, rest = line.rstrip(b"\n").partition(b"\t")
                raw_id, _, payload = rest.partition(b"\t")
                key = raw_id.decode(errors="replace")
                if kind == b"s":
                    self._entries[key] = _RUNNING
                    with contextlib.suppress(ValueError):
                        self._started[key] = float(payload)
                elif kind == b"a" and payload:
                    self._entries[key] = payload
                elif kind == b"f":
                    self._entries.pop(key, None)
                    self._started.pop(key, None)
                    continue
                else:
                    continue
                self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._started.pop(self._entries.popitem(last=False)[0], None)
        failed = encode(response_fail("interrupted", ErrorCode.EXEC_FAILED, INTERRUPTED))
        for key, value in self._entries.items():
            if value == _RUNNING:
                self.interrupted.append(key)
                self._entries[key] = failed

    def _rewrite(self) -> None:
        """Write the entries kept to a new file and switch to it (atomic: rename)."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "wb") as out:
            for command_id, value in self._entries.items():
                key = command_id.encode()
                started = self._started.get(command_id)
                if value == _RUNNING or started is not None:
                    out.write(_started_record(key, started))
                if value != _RUNNING:
                    out.write(b"a\t" + key + b"\t" + value + b"\n")
            out.flush()
        tmp.replace(self.path)
        if self._fh is not None:
            self._fh.close()
        self._fh = open(self.path, "ab")  # noqa: SIM115 - closed in close()
        self._size = self.path.stat().st_size


def _started_record(key: bytes, at: float | None) -> bytes:
    return b"s\t" + key + (b"\t" + repr(at).encode() if at is not None else b"") + b"\n"
