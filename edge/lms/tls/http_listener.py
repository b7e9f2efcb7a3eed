"""One uvicorn server on one address, in a thread: the LMS's HTTPS port, and the opt-in plain ClassTop port.

The socket is bound here (not by uvicorn) so that a port in use is a clear start-up error, and with
``IPPROTO_TCP`` so that asyncio sets ``TCP_NODELAY`` on accepted connections (without it every reply waits
~40 ms for a delayed ACK). The config (its TLS context) is loaded here too, before the thread starts: bad TLS
files are a clear start-up error (uvicorn would die in its thread), and a :class:`NamedCertificate` is in
place before the first handshake.
"""

from __future__ import annotations

import copy
import fnmatch
import logging
import socket
import ssl
import threading
import time
from pathlib import Path

import uvicorn
from cryptography import x509
from starlette.types import ASGIApp

log = logging.getLogger(__name__)

START_TIMEOUT_S = 10.0


class ListenerError(Exception):
    """The listener could not start (the message says why)."""


class NamedCertificate:
    """A certificate served only to clients that ask for one of its DNS names (TLS SNI).

    The LMS's port keeps the site CA's certificate for everyone else: agents (which trust the site CA only)
    and any client that connects by address (no SNI). ClassTop clients pointed at the LMS's public DNS name
    get the operator's certificate (``tls_cert_file``), which their public CA bundle trusts.
    """

    def __init__(self, cert_file: Path, key_file: Path) -> None:
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            self.context.load_cert_chain(cert_file, key_file)
            cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise ListenerError(f"unusable tls_cert_file/tls_key_file: {exc}") from None
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            self.names = [n.lower() for n in san.get_values_for_type(x509.DNSName)]
        except x509.ExtensionNotFound:
            self.names = []
        self.cert_file = cert_file

    def matches(self, server_name: str | None) -> bool:
        name = (server_name or "").lower().rstrip(".")
        return bool(name) and any(name == n or (n.startswith("*.") and fnmatch.fnmatch(name, n)
                                                and name.count(".") == n.count(".")) for n in self.names)  # fmt: skip

    def attach(self, context: ssl.SSLContext) -> None:
        def pick(sslobj: ssl.SSLObject, server_name: str | None, _default: ssl.SSLContext) -> None:
            if self.matches(server_name):
                sslobj.context = self.context

        context.sni_callback = pick


class HttpListener:
    """``uvicorn.Server(config)`` serving ``host:port`` in a daemon thread until :meth:`stop`."""

    def __init__(
        self, name: str, config: uvicorn.Config, host: str, port: int, *, named: NamedCertificate | None = None
    ) -> None:
        self.name = name
        self.config = config
        self.host = host
        self.port = port
        self.named = named
        self.server = uvicorn.Server(config)
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    @property
    def scheme(self) -> str:
        return "https" if self.config.ssl_certfile else "http"

    def start(self) -> HttpListener:
        try:
            self.config.load()  # the TLS context among the rest; uvicorn skips a loaded config
        except (OSError, ssl.SSLError) as exc:
            raise ListenerError(f"unusable TLS certificate or key for the {self.name}: {exc}") from None
        if self.named is not None and self.config.ssl is not None:
            self.named.attach(self.config.ssl)
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
