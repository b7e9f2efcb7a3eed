"""One uvicorn server on one address, in a thread: the LMS's HTTPS port, and the opt-in plain ClassTop port.

The socket is bound here (not by uvicorn) so that a port in use is a clear start-up error, and with
``IPPROTO_TCP`` so that asyncio sets ``TCP_NODELAY`` on accepted connections (without it every reply waits
~40 ms for a delayed ACK). TLS files are checked before the thread starts (uvicorn would load them in its
thread and die there).
"""

from __future__ import annotations

import copy
import logging
import socket
import ssl
import threading
import time
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp

log = logging.getLogger(__name__)

START_TIMEOUT_S = 10.0


class ListenerError(Exception):
    """The listener could not start (the message says why)."""


class HttpListener:
    """``uvicorn.Server(config)`` serving ``host:port`` in a daemon thread until :meth:`stop`."""

    def __init__(self, name: str, config: uvicorn.Config, host: str, port: int) -> None:
        self.name = name
        self.config = config
        self.host = host
        self.port = port
        self.server = uvicorn.Server(config)
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    @property
    def scheme(self) -> str:
        return "https" if self.config.ssl_certfile else "http"

    def start(self) -> HttpListener:
        cert, key = self.config.ssl_certfile, self.config.ssl_keyfile
        if cert is not None:
            try:
                ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
            except (OSError, ssl.SSLError) as exc:
                raise ListenerError(f"unusable tls_cert_file/tls_key_file: {exc}") from None
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise ListenerError(f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}") from None
        self._sock = sock
        thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, name=self.name, daemon=True)
        thread.start()
        self._thread = thread
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                sock.close()
                raise ListenerError(f"the {self.name} did not start on {self.host}:{self.port}")
            time.sleep(0.01)
        return self

    def reload_certificate(self, cert_file: Path, key_file: Path) -> None:
        """Serve a renewed certificate from the next handshake on (connections already open keep theirs)."""
        context = self.config.ssl
        if context is None:
            return
        context.load_cert_chain(cert_file, key_file)
        log.info("%s: now serving the renewed certificate %s", self.name, cert_file)

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(10.0)
        if self._sock is not None:
            self._sock.close()


def plain_variant(config: uvicorn.Config, app: ASGIApp) -> uvicorn.Config:
    """The same server settings for another app, without TLS (the opt-in plain listener). Take it before
    ``config`` serves: a loaded config carries its TLS context."""
    if config.loaded:
        raise ValueError("plain_variant() needs a config that has not been loaded yet")
    plain = copy.copy(config)
    plain.app = app
    plain.ssl_certfile = None
    plain.ssl_keyfile = None
    return plain
