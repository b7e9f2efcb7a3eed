"""The local twin's wall-clock shift (chaos ``clock_jump``): put this directory first on ``PYTHONPATH`` of a child
process and set ``CLASSTOP_TWIN_CLOCK_FILE``; that process's ``time.time()`` and ``time.time_ns()`` then read the
real clock plus the offset (seconds, a float) written in the file, re-read every 50 ms, so a test steps the
process's wall clock forward and back while it runs. ``time.monotonic()`` is left alone, as a real clock step
leaves it. C code that reads the clock itself (OpenSSL's certificate dates, SQLite's ``CURRENT_TIMESTAMP``) and
``datetime.now()`` are not shifted.

Why not libfaketime (Debian's ``faketime``, ``FAKETIME_TIMESTAMP_FILE`` + ``FAKETIME_NO_CACHE``): it shifts
``CLOCK_MONOTONIC`` along with the wall clock unless ``FAKETIME_DONT_FAKE_MONOTONIC=1``, and with that set
libfaketime 0.9.10 (Debian 12) makes CPython's ``time.sleep`` fail (``OSError: [Errno 22] Invalid argument``: its
``clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)`` wrapper) — docs/operations.md#fault-injection-make-chaos.
"""

from __future__ import annotations

import os
import threading
import time

_FILE = os.environ.get("CLASSTOP_TWIN_CLOCK_FILE", "")
_real_time = time.time
_real_time_ns = time.time_ns
_offset = 0.0


def _read() -> float:
    try:
        with open(_FILE) as f:
            return float(f.read().strip() or 0.0)
    except (OSError, ValueError):
        return _offset  # being rewritten, or gone: keep the last one


def _follow() -> None:
    global _offset
    while True:
        _offset = _read()
        time.sleep(0.05)


def _time() -> float:
    return _real_time() + _offset


def _time_ns() -> int:
    return _real_time_ns() + int(_offset * 1e9)


if _FILE:
    _offset = _read()
    time.time = _time
    time.time_ns = _time_ns
    threading.Thread(target=_follow, name="twin-clock-shift", daemon=True).start()
