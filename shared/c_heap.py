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

:func:`arena_count` (``malloc_info``) says how many arenas the process has made (a check for tests and benches),
:func:`usage` how much they hold and how much of it is free. All of them do nothing (return ``False`` or
``None``) where glibc is not the C library.
"""

from __future__ import annotations

import ctypes
import functools
import os

__all__ = ["arena_count", "limit_arenas", "trim", "usage"]

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


def _info() -> bytes | None:
    """``malloc_info``'s XML (``None`` without glibc)."""
    import tempfile  # here, not at the top: a check, and the agent counts every module it loads (edge.agent.footprint)

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
        return out.read()


def arena_count() -> int | None:
    """How many arenas this process's malloc has (the main one included), from ``malloc_info``'s ``<heap>``s."""
    import re

    xml = _info()
    return None if xml is None else len(re.findall(rb"<heap nr=", xml))


def usage() -> dict[str, int] | None:
    """What malloc holds, from ``malloc_info``'s totals: ``arenas``; ``system`` (bytes the arenas took from the
    system); ``free`` (bytes free inside them: what :func:`trim` can give back in whole pages); ``mmap`` (blocks
    mapped on their own, 128 KiB and up). A diagnostic (``edge.lms.heap_trace``), not for a hot path."""
    import re

    xml = _info()
    if xml is None:
        return None
    totals = xml[xml.rfind(b"</heap>") :]  # the process-wide totals follow the last arena
    figures = {
        kind.decode(): int(size) for kind, size in re.findall(rb'<total type="(\w+)" count="\d+" size="(\d+)"', totals)
    }
    current = re.search(rb'<system type="current" size="(\d+)"', totals)
    return {
        "arenas": len(re.findall(rb"<heap nr=", xml)),
        "system": int(current.group(1)) if current else 0,
        "free": figures.get("fast", 0) + figures.get("rest", 0),
        "mmap": figures.get("mmap", 0),
    }
