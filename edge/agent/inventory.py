"""Host facts for ``get_info`` and the ``inventory`` part of a ``state_update``: cheap, no process scan."""

from __future__ import annotations

import os
import platform
import socket
import sys
import time
from typing import Any

import psutil

from edge.agent import __version__

STARTED_AT = time.time()


def hostname() -> str:
    return socket.gethostname()[:255] or "unknown"


def _os_release() -> dict[str, str]:
    try:
        return platform.freedesktop_os_release()
    except OSError:
        return {}


def inventory(agent_id: str) -> dict[str, Any]:
    """What this agent is and runs on."""
    uname = platform.uname()
    release = _os_release()
    return {
        "agent_id": agent_id,
        "version": __version__,
        "hostname": hostname(),
        "os": {
            "system": uname.system,
            "release": uname.release,
            "version": uname.version,
            "machine": uname.machine,
            "distribution": release.get("PRETTY_NAME"),
        },
        "python": sys.version.split()[0],
        "cpu_count": psutil.cpu_count(logical=True),
        "cpu_count_physical": psutil.cpu_count(logical=False),
        "memory_total": psutil.virtual_memory().total,
        "boot_time": psutil.boot_time(),
        "started_at": STARTED_AT,
        "pid": os.getpid(),
    }
