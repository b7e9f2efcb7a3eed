"""Writing a file so that a crash leaves the old content or the new, never a mix: the one way the system does it.

The data goes to a temporary file in the same directory (created with ``mode``: secrets are never readable by
others, not even for a moment), is flushed to disk, renamed over the target, and the directory entry is synced.
"""

from __future__ import annotations

import contextlib
import os
import shutil
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


#: how ``tempfile.mkstemp`` creates its file: new (never an existing file or a link), this process's only
_CREATE = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def _create_temporary(path: Path) -> tuple[int, str]:
    """A new file beside ``path`` (``.<name>.<random>.tmp``, mode 0600), opened; as ``tempfile.mkstemp`` makes it,
    without importing ``tempfile`` (with ``shutil``, ``bz2`` and ``lzma`` it brings: ~0.7 MB of the idle agent)."""
    for _ in range(100):
        tmp = os.path.join(path.parent, f".{path.name}.{os.urandom(6).hex()}.tmp")
        try:
            return os.open(tmp, _CREATE, 0o600), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


def _replace(path: Path, mode: int, write: Callable[[IO[bytes]], object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temporary(path)
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
