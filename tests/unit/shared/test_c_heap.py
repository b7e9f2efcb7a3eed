"""The C heap measures of the long-running processes (shared.c_heap): a cap on malloc's arenas, free pages given back.

Each case runs in a fresh interpreter (a subprocess: the cap and the arenas are the process's for good).
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from shared import c_heap

REPO = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt, malloc_trim, malloc_info: glibc")

#: eight threads alive at once, each allocating from malloc (a block above Python's small-object size), then the
#: process's arena count
THREADS = """
import ctypes, json, sys, threading
from shared import c_heap
limited = c_heap.limit_arenas(2) if sys.argv[1] == "limit" else None
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
everyone_allocated = threading.Barrier(9)
def work():
    libc.malloc(4096)
    everyone_allocated.wait()  # every thread holds its block while the arenas are counted
    everyone_allocated.wait()
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads:
    t.start()
everyone_allocated.wait()
print(json.dumps({"limited": limited, "arenas": c_heap.arena_count()}))
everyone_allocated.wait()
for t in threads:
    t.join()
"""

#: a thread allocates 40 MiB in 8 KiB blocks and frees all but the last (which pins the top of its arena), then the
#: resident size before and after trim()
TRIM = """
import ctypes, json, threading
import psutil
from shared import c_heap
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
def work():
    blocks = [libc.malloc(8192) for _ in range(5120)]
    for block in blocks[:-1]:
        libc.memset(ctypes.c_void_p(block), 1, 8192)
        libc.free(block)
    libc.memset(ctypes.c_void_p(blocks[-1]), 1, 8192)
t = threading.Thread(target=work)
t.start()
t.join()
before = psutil.Process().memory_info().rss
trimmed = c_heap.trim()
print(json.dumps({"trimmed": trimmed, "before": before, "after": psutil.Process().memory_info().rss}))
"""


def _run(code: str, *args: str) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True, timeout=60,
                         check=True)  # fmt: skip
    result: dict[str, object] = json.loads(out.stdout)
    return result


def test_without_a_cap_each_thread_gets_its_own_arena() -> None:
    result = _run(THREADS, "free")
    assert isinstance(result["arenas"], int) and result["arenas"] > 2  # what the cap is for (and the count works)


def test_the_cap_holds_every_thread_to_two_arenas() -> None:
    result = _run(THREADS, "limit")
    assert result == {"limited": True, "arenas": 2}


def test_trim_gives_freed_pages_inside_an_arena_back() -> None:
    result = _run(TRIM)
    assert result["trimmed"] is True
    before, after = result["before"], result["after"]
    assert isinstance(before, int) and isinstance(after, int)
    assert before - after > 30 * 2**20  # of the 40 MiB freed, held until trim() gave them back


def test_the_count_answers_in_this_process() -> None:
    count = c_heap.arena_count()
    assert isinstance(count, int) and count >= 1


#: the totals before, with 20 MiB in 8 KiB blocks freed but the last (free inside the arena) and a 4 MiB block held
#: (mapped on its own)
USAGE = """
import ctypes, json
from shared import c_heap
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
before = c_heap.usage()
big = libc.malloc(4 * 2**20)  # first: later, the freed blocks would hold it
blocks = [libc.malloc(8192) for _ in range(2560)]
for block in blocks[:-1]:
    libc.free(block)
print(json.dumps({"before": before, "after": c_heap.usage()}))
"""


def test_usage_tells_free_bytes_inside_the_arenas_from_blocks_mapped_on_their_own() -> None:
    result = _run(USAGE)
    before, after = result["before"], result["after"]
    assert isinstance(before, dict) and isinstance(after, dict)
    assert after["arenas"] == before["arenas"] == 1
    assert after["free"] - before["free"] > 12 * 2**20  # of the 20 MiB freed (the smallest blocks are kept apart)
    assert after["system"] - before["system"] > 12 * 2**20
    assert after["mmap"] - before["mmap"] >= 4 * 2**20
