"""Free TCP ports for the local twin's listeners and the tests' (drawn where a restarted server finds its own
port free again)."""

from __future__ import annotations

import random
import socket
import threading
from collections import deque
from pathlib import Path

#: the lowest port :func:`free_port` draws from (it draws below the kernel's ephemeral range)
LISTEN_PORTS_FLOOR = 20000
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
#: how many of this process's latest picks :func:`free_port` never hands out again
ISSUED_MEMORY = 4096
_issued: deque[int] = deque(maxlen=ISSUED_MEMORY)
_issued_lock = threading.Lock()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that is free right now, for a listener the twin may have to start again.

    Drawn at random below the kernel's ephemeral range (``ip_local_port_range``), where no outgoing connection on
    the machine is ever given a port: a server killed and restarted (the chaos run's ``kill -9``) finds its port
    free again. (Picked by the OS — in the ephemeral range — any process's new connection could take it while the
    server was down, and its restarts failed with "Address already in use" for as long as that connection lived.)
    The OS's pick when nothing is free there.

    A port is free only until its server binds it, and one caller often draws several before starting any (the
    twin draws the API's, the LMS's and the brokers' ports, then starts them): the process remembers its latest
    :data:`ISSUED_MEMORY` picks and never hands one out twice, or two of its servers could be given the same port
    and the second fail with "Address already in use"."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    low, high = _listen_range()
    rng = random.SystemRandom()  # not the random module's state: tests seed it, and parallel runs would collide
    with _issued_lock:
        for _ in range(100 if high > low else 0):
            port = rng.randint(low, high)
            if port not in _issued and _bindable(family, host, port):
                _issued.append(port)
                return port
        for _ in range(100):
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                sock.bind((host, 0))
                chosen: int = sock.getsockname()[1]
            if chosen not in _issued:
                break
        _issued.append(chosen)
        return chosen


def _bindable(family: socket.AddressFamily, host: str, port: int) -> bool:
    """Whether a listener could bind ``host:port`` right now."""
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def _listen_range() -> tuple[int, int]:
    """Ports below the ephemeral range, from :data:`LISTEN_PORTS_FLOOR` (an empty range if there are none)."""
    try:
        first_ephemeral = int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        first_ephemeral = 32768  # Linux's default
    return LISTEN_PORTS_FLOOR, first_ephemeral - 1
