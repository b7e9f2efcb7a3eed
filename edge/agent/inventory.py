"""Host facts for ``get_info`` and the ``inventory`` part of a ``state_update`` (sent on every connect).

The hardware part (OS, CPU, memory, disks, network interfaces) is gathered once per process and cached:
it costs a few milliseconds and does not change while the agent runs (a new disk or NIC shows after the
next agent start). No process scan here (see :mod:`edge.agent.processes`). Lists are bounded so that a
``state_update`` always fits in one message.
"""

from __future__ import annotations

import functools
import os
import platform
import socket
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from edge.agent import __version__
from edge.agent.metrics import disks
from shared.messages.structs import as_dict

STARTED_AT = time.time()
MAX_NICS = 32
MAX_ADDRESSES = 8


def hostname() -> str:
    return socket.gethostname()[:255] or "unknown"


def _os_release() -> dict[str, str]:
    try:
        return platform.freedesktop_os_release()
    except OSError:
        return {}


def cpu_model() -> str | None:
    """The CPU's marketing name (``/proc/cpuinfo`` on Linux, ``platform.processor()`` elsewhere)."""
    try:
        with Path("/proc/cpuinfo").open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                    return value.strip()[:200]
    except OSError:
        pass
    return platform.processor()[:200] or None


def _dmi(name: str) -> str | None:
    try:
        value = Path("/sys/class/dmi/id", name).read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None
    return value[:200] or None


def nics() -> list[dict[str, Any]]:
    """Network interfaces except loopback: name, up, speed (Mb/s), MTU, MAC, IPv4/IPv6 addresses."""
    try:
        addrs = psutil.net_if_addrs()
        stats = psutil.net_if_stats()
    except OSError:
        return []
    out: list[dict[str, Any]] = []
    for name in sorted(addrs):
        if name == "lo" or name.startswith("lo:"):
            continue
        mac = next((a.address for a in addrs[name] if a.family == psutil.AF_LINK), None)
        ips = [
            a.address.split("%")[0]
            for a in addrs[name]
            if a.family in (socket.AF_INET, socket.AF_INET6)
        ][:MAX_ADDRESSES]
        st = stats.get(name)
        out.append(
            {
                "name": name[:64],
                "up": bool(st.isup) if st else None,
                "speed_mbps": st.speed if st and st.speed > 0 else None,
                "mtu": st.mtu if st else None,
                "mac": mac,
                "addresses": ips,
            }
        )
        if len(out) >= MAX_NICS:
            break
    return out


@functools.cache
def hardware() -> dict[str, Any]:
    """What this machine is: gathered once per process."""
    uname = platform.uname()
    release = _os_release()
    try:
        freq = psutil.cpu_freq()
    except (OSError, NotImplementedError):
        freq = None
    try:
        swap_total: int | None = psutil.swap_memory().total
    except (OSError, RuntimeError):
        swap_total = None
    return {
        "os": {
            "system": uname.system,
            "release": uname.release,
            "version": uname.version,
            "machine": uname.machine,
            "distribution": release.get("PRETTY_NAME"),
        },
        "machine": {
            "vendor": _dmi("sys_vendor"),
            "product": _dmi("product_name"),
            "bios": _dmi("bios_version"),
        },
        "cpu": {
            "model": cpu_model(),
            "logical": psutil.cpu_count(logical=True),
            "physical": psutil.cpu_count(logical=False),
            "max_mhz": round(freq.max, 1) if freq and freq.max else None,
        },
        "memory_total": psutil.virtual_memory().total,
        "swap_total": swap_total,
        "disks": [as_dict(d) for d in disks()],
        "nics": nics(),
        "boot_time": psutil.boot_time(),
    }


def inventory(agent_id: str) -> dict[str, Any]:
    """What this agent is and runs on."""
    hw = hardware()
    return {
        "agent_id": agent_id,
        "version": __version__,
        "hostname": hostname(),
        **hw,
        "python": sys.version.split()[0],
        # kept for readers of the first inventory shape
        "cpu_count": hw["cpu"]["logical"],
        "cpu_count_physical": hw["cpu"]["physical"],
        "started_at": STARTED_AT,
        "pid": os.getpid(),
    }
