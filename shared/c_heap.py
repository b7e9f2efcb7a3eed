"""The C heap (glibc's malloc) of a long-running process: how many arenas it keeps, and giving back what it freed.

What Python's own allocator does not hold (objects over 512 bytes, SQLite's page cache, OpenSSL's buffers, the
MQTT client's buffers) comes from ``malloc``. glibc gives each thread that allocates its own arena, up to eight per
core, and a freed block goes back to the arena of the thread that allocated it: in a process of thirty threads that
share one SQLite connection (the LMS), every arena holds its own share of the page cache and its own free holes,
and the resident size creeps up for hours before each arena has seen its worst case. Two measures bound that:

* :func:`limit_arenas` (``mallopt(M_ARENA_MAX)``), as early as possible, before threads start: every thread
  shares at most ``arenas`` arenas, so a block one thread freed is reused by the next one that allocates;
* :func:`trim` (``malloc_trim(0)``): the whole free pages inside every arena (not only at the top of the heap)
  go back to the operating system, so the resident size follows what is live rather than the highest it has been.

:func:`arena_count` (``malloc_info``) says how many arenas the process has made (a check for tests and benches).
All three do nothing (return ``False`` or ``None``) where glibc is not the C library.
"""

from __future__ import annotations

import ctypes
import functools
import os

__all__ = ["arena_count", "limit_arenas", "trim"]

#: mallopt's parameter for the most arenas (malloc.h)
_M_ARENA_MAX = -8


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None)  # the symbols already loaded into this process (the C library among them)
    except OSError:
        return None
    if not all(hasattr(libc, name) for name in ("malloc_trim", "mallopt", "malloc_info", "fdopen", "fclose")):
        return None
    libc.fdopen.restype = ctypes.c_void_p
    libc.fdopen.argtypes = [ctypes.c_int, ctypes.c_char_p]
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    return libc


def limit_arenas(arenas: int = 2) -> bool:
    """At most ``arenas`` malloc arenas from now on (those already made stay); ``True`` when glibc took it."""
    libc = _libc()
    return bool(libc is not None and libc.mallopt(_M_ARENA_MAX, arenas) == 1)


def trim() -> bool:
    """Give the free pages of every arena back to the operating system; ``True`` when some memory went back."""
    libc = _libc()
    return bool(libc is not None and libc.malloc_trim(0) == 1)


def arena_count() -> int | None:
    """How many arenas this process's malloc has (the main one included), from ``malloc_info``'s ``<heap>``s."""
    import re  # here, not at the top: a check, and the agent counts every module it loads (edge.agent.footprint)
    import tempfile

    libc = _libc()
    if libc is None:
        return None
    with tempfile.TemporaryFile() as out:
        stream = libc.fdopen(os.dup(out.fileno()), b"w")
        if not stream:
            return None
        libc.malloc_info(0, stream)
        libc.fclose(stream)
        out.seek(0)
        return len(re.findall(rb"<heap nr=", out.read()))
