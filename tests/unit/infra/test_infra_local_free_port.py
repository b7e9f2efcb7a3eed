"""``free_port``: a port for a listener the twin may restart, below the kernel's ephemeral range (no outgoing
connection can take it while its server is down), free when drawn; the OS's pick when none is free there."""

from __future__ import annotations

import socket
from collections import deque
from pathlib import Path

import pytest

from infra.local import ports
from infra.local.ports import LISTEN_PORTS_FLOOR, free_port


def test_ports_are_drawn_below_the_ephemeral_range_and_are_free() -> None:
    first_ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = {free_port() for _ in range(20)}
    assert all(LISTEN_PORTS_FLOOR <= p < first_ephemeral for p in ports)
    assert len(ports) > 1  # drawn, not one fixed port
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_without_room_below_the_ephemeral_range_the_os_picks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ports, "_listen_range", lambda: (LISTEN_PORTS_FLOOR, LISTEN_PORTS_FLOOR - 1))
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_a_port_is_never_handed_out_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    # the twin draws several ports before it starts any server: drawn from a range of three (all free, as nothing
    # binds them), the first three draws are the three ports and the fourth cannot be one of them again
    low = free_port()
    monkeypatch.setattr(ports, "_issued", deque(maxlen=ports.ISSUED_MEMORY))
    monkeypatch.setattr(ports, "_listen_range", lambda: (low, low + 2))
    drawn = [free_port() for _ in range(4)]
    assert sorted(drawn[:3]) == [low, low + 1, low + 2]
    assert drawn[3] not in drawn[:3]
