"""The twin's cloud link relay (infra/local/link_proxy.py): a slow, lossy link delays every chunk at least by its
delay and never loses, reorders or corrupts a byte (TCP's view of loss: late, not missing); cut and restore."""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from infra.local.link_proxy import LinkProxy, LinkShape


@pytest.fixture
def echo() -> Iterator[tuple[str, int]]:
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=pump, args=(conn,), daemon=True).start()

    def pump(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[:2]
    server.close()


def _roundtrip(port: int, payload: bytes) -> tuple[bytes, float]:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        started = time.monotonic()
        sock.sendall(payload)
        got = b""
        while len(got) < len(payload):
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += chunk
        return got, time.monotonic() - started


def test_a_slow_lossy_link_delays_every_byte_and_loses_none(echo: tuple[str, int]) -> None:
    proxy = LinkProxy(*echo).start()
    try:
        proxy.shape(LinkShape(delay_s=0.2, loss=0.5, rto_s=0.05))
        payload = random.Random(1).randbytes(300_000)
        got, took = _roundtrip(proxy.port, payload)
        assert got == payload  # in order, whole
        assert took >= 0.4  # both ways: each chunk waits its delay before it is sent on
        proxy.unshape()
        assert proxy.shaped is None and _roundtrip(proxy.port, b"x")[0] == b"x"
    finally:
        proxy.stop()


def test_a_cut_link_refuses_until_restored(echo: tuple[str, int]) -> None:
    proxy = LinkProxy(*echo).start()
    try:
        proxy.cut()
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
            sock.settimeout(5)
            assert sock.recv(1) == b""  # closed at once
        proxy.restore()
        assert _roundtrip(proxy.port, b"hello")[0] == b"hello"
    finally:
        proxy.stop()


@pytest.mark.parametrize("shape", [{"delay_s": -1.0}, {"loss": 1.0}, {"rto_s": 61.0}])
def test_a_shape_out_of_bounds_is_refused(shape: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="out of bounds"):
        LinkShape(**shape)
