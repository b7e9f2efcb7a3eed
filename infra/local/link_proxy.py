"""A TCP relay between the twin's LMS and the IoT Core stand-in, which a test can cut: a cloud link outage as the
site sees it (its uplink gone) while IoT Core itself keeps running — and keeps the LMS's persistent session and
the messages for it, as AWS does. Stopping the stand-in instead is an IoT Core outage, which AWS does not have.

:meth:`LinkProxy.cut` closes every relayed connection and refuses new ones until :meth:`LinkProxy.restore`.
:meth:`LinkProxy.shape` makes the link slow (a school's poor uplink) until :meth:`LinkProxy.unshape`: every chunk
relayed waits ``delay_s``, and a share ``loss`` of them is "lost" and retransmitted, i.e. waits ``rto_s`` more —
the relay carries a byte stream (TLS end to end), so a dropped segment shows as TCP shows it: late, never missing
or reordered. (The machine's own network emulation, ``tc netem`` in a namespace, would need the twin to run in
network namespaces; the relay does it in user space on any machine.)
"""

from __future__ import annotations

import contextlib
import logging
import queue
import random
import socket
import threading
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)

_CHUNK = 65536
_EOF = b""


@dataclass(frozen=True, slots=True)
class LinkShape:
    """A slow link: each chunk waits ``delay_s``; with probability ``loss`` it waits ``rto_s`` more (retransmitted)."""

    delay_s: float = 0.0
    loss: float = 0.0
    rto_s: float = 0.3

    def __post_init__(self) -> None:
        if not (0.0 <= self.delay_s <= 60.0 and 0.0 <= self.loss < 1.0 and 0.0 <= self.rto_s <= 60.0):
            raise ValueError(f"link shape out of bounds: {self}")

    def wait_s(self, rng: random.Random) -> float:
        extra = 0.0
        while self.loss and rng.random() < self.loss:  # lost again on retransmission: waits once more
            extra += self.rto_s
        return self.delay_s + extra


class LinkProxy:
    def __init__(self, upstream_host: str, upstream_port: int, host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self._server = socket.create_server((host, 0))
        self.host, self.port = host, int(self._server.getsockname()[1])
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._cut = False
        self._stopped = False
        self._shape: LinkShape | None = None
        self._rng = random.Random()
        self._thread = threading.Thread(target=self._accept, name="link-proxy", daemon=True)

    def start(self) -> LinkProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped = True
        self.cut()
        with contextlib.suppress(OSError):  # wake the accepting thread (closing the socket does not, on Linux)
            socket.create_connection((self.host, self.port), timeout=1).close()
        with contextlib.suppress(OSError):
            self._server.close()
        self._thread.join(5)

    @property
    def is_cut(self) -> bool:
        return self._cut

    def cut(self) -> None:
        with self._lock:
            self._cut = True
            sockets, self._open = self._open, set()
        for sock in sockets:
            _close(sock)
        log.info("link proxy: cut (%d connection(s) closed)", len(sockets) // 2)

    def restore(self) -> None:
        with self._lock:
            self._cut = False
        log.info("link proxy: restored")

    @property
    def shaped(self) -> LinkShape | None:
        return self._shape

    def shape(self, shape: LinkShape) -> None:
        """Make the link slow (connections open now and later) until :meth:`unshape`."""
        self._shape = shape
        log.info("link proxy: slow link (%s)", shape)

    def unshape(self) -> None:
        self._shape = None
        log.info("link proxy: link speed restored")

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if self._cut:
                _close(client)
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _close(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                self._open.update((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), name="link-proxy-pump", daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        """Read ``src``; a sender thread writes each chunk to ``dst`` once its time has come (in order)."""
        chunks: queue.Queue[tuple[float, bytes]] = queue.Queue()
        sender = threading.Thread(target=self._send, args=(chunks, src, dst), name="link-proxy-send", daemon=True)
        sender.start()
        last = 0.0
        try:
            while data := src.recv(_CHUNK):
                shape = self._shape
                due = time.monotonic() + (shape.wait_s(self._rng) if shape else 0.0)
                last = max(due, last)  # a byte stream: a late chunk holds back those behind it
                chunks.put((last, data))
        except OSError:
            pass
        finally:
            chunks.put((last, _EOF))

    def _send(self, chunks: queue.Queue[tuple[float, bytes]], src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                due, data = chunks.get()
                if data == _EOF:
                    return
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open.discard(src)
                self._open.discard(dst)
            _close(src)
            _close(dst)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
