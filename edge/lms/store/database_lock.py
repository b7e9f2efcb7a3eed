"""The lock file beside the database (``<db_path>.lock``) that the running LMS holds for as long as it runs.

An exclusive ``flock`` on it, taken without waiting: a second LMS on the same data directory, or a ``restore``
while the LMS runs, finds it held and is refused with the holder's pid (the kernel lets it go when the process
ends, however it ends: no stale lock after a crash). Works across containers that share the volume.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from edge.lms.store.store_error import StoreError


class DatabaseLocked(StoreError):
    """Another process (a running LMS, or a restore) holds the database's lock."""


class DatabaseLock:
    def __init__(self, db_path: Path) -> None:
        self.path = db_path.with_name(db_path.name + ".lock")
        self._fd: int | None = None
        #: whether :meth:`acquire` made the file (then :meth:`release` with ``remove_if_created`` removes it)
        self.created = False

    def acquire(self, what: str) -> DatabaseLock:
        """Hold the lock for ``what`` (e.g. "the LMS"); :class:`DatabaseLocked` when someone else holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.created = not self.path.exists()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise DatabaseLocked(
                f"the database {self.path.with_suffix('')} is in use: {holder} holds {self.path}"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{what} (pid {os.getpid()})".encode())
        self._fd = fd
        return self

    def release(self, *, remove_if_created: bool = False) -> None:
        if self._fd is not None:
            if remove_if_created and self.created:
                self.path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing lets the lock go
            self._fd = None

    def __enter__(self) -> DatabaseLock:
        return self

    def __exit__(self, *_exc: object) -> None:
        """Released; the file removed again when this lock made it (a refused restore leaves nothing behind)."""
        self.release(remove_if_created=True)
