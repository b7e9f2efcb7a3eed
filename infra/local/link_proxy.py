"""A TCP relay between the twin's LMS and the IoT Core stand-in, which a test can cut: a cloud link outage as the
site sees it (its uplink gone) while IoT Core itself keeps running — and keeps the LMS's persistent session and
the messages for it, as AWS does. Stopping the stand-in instead is an IoT Core outage, which AWS does not have.

:meth:`LinkProxy.cut` closes every relayed connection and refuses new ones until :meth:`LinkProxy.restore`.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading

log = logging.getLogger(__name__)

_CHUNK = 65536


class LinkProxy:
    def __init__(self, upstream_host: str, upstream_port: int, host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self._server = socket.create_server((host, 0))
        self.host, self.port = host, int(self._server.getsockname()[1])
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._cut = False
        self._stopped = False
        self._thread = threading.Thread(target=self._accept, name="link-proxy", daemon=True)

    def start(self) -> LinkProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped = True
        self.cut()
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
        try:
            while data := src.recv(_CHUNK):
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
