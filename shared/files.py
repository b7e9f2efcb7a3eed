"""Writing a file so that a crash leaves the old content or the new, never a mix: the one way the system does it.

The data goes to a temporary file in the same directory (created with ``mode``: secrets are never readable by
others, not even for a moment), is flushed to disk, renamed over the target, and the directory entry is synced.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO


def write_atomic(path: Path, data: bytes | str, *, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` (text is UTF-8); its parent directory is created if missing."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    _replace(path, mode, lambda fh: fh.write(raw))


def write_atomic_from(path: Path, source: IO[bytes], *, mode: int = 0o600) -> None:
    """Replace ``path`` with what ``source`` holds, streamed (a large file is never whole in memory)."""
    _replace(path, mode, lambda fh: shutil.copyfileobj(source, fh, 1 << 20))


def _replace(path: Path, mode: int, write: Callable[[IO[bytes]], object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # not every file system lets a directory be synced
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
