"""The school LAN as an attacker sees it: a host that speaks plain HTTP, plain MQTT or TLS without the site CA
to the LMS and the site broker. Raw sockets and Python's ``ssl`` only (no client library that could be lenient).
"""

from __future__ import annotations

import socket
import ssl
import time
from pathlib import Path

#: An MQTT 3.1.1 CONNECT (clean session, keep-alive 60 s, client id "lan-attacker", no credentials).
_CLIENT_ID = b"lan-attacker"
_VARIABLE_HEADER = b"\x00\x04MQTT\x04\x02\x00\x3c"
_PAYLOAD = len(_CLIENT_ID).to_bytes(2, "big") + _CLIENT_ID
MQTT_CONNECT = bytes([0x10, len(_VARIABLE_HEADER) + len(_PAYLOAD)]) + _VARIABLE_HEADER + _PAYLOAD


def lan_address() -> str | None:
    """This machine's non-loopback IPv4 address (the one a LAN host would use), or None if it has none."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: no packet is sent by a UDP connect
        except OSError:
            return None
        address: str = probe.getsockname()[0]
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def wait_listening(host: str, port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on {host}:{port} after {timeout} s")


def plain_exchange(host: str, port: int, request: bytes, timeout: float = 3.0) -> bytes:
    """Send ``request`` over plain TCP and return what comes back before the peer closes or goes quiet.

    A refused connection returns ``b""`` too: the attacker got nothing.
    """
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError:
        return b""
    with sock:
        try:
            sock.sendall(request)
            chunks = []
            while True:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                chunks.append(chunk)
                if sum(map(len, chunks)) > 64 * 1024:
                    break
        except (TimeoutError, ConnectionError, OSError):
            pass
    return b"".join(chunks) if "chunks" in locals() else b""


def plain_http_get(host: str, port: int, path: str) -> bytes:
    return plain_exchange(host, port, f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())


def tls_handshake(host: str, port: int, context: ssl.SSLContext, server_hostname: str) -> str:
    """Complete a TLS handshake (raises ``ssl.SSLError`` if the server is not trusted); return the version."""
    with socket.create_connection((host, port), timeout=5) as raw, context.wrap_socket(
        raw, server_hostname=server_hostname
    ) as tls:
        return str(tls.version())


def https_get(host: str, port: int, path: str, context: ssl.SSLContext, server_hostname: str) -> bytes:
    with socket.create_connection((host, port), timeout=5) as raw, context.wrap_socket(
        raw, server_hostname=server_hostname
    ) as tls:
        tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {server_hostname}\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while chunk := tls.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks)


def unverified_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def pinned_context(ca_file: Path) -> ssl.SSLContext:
    """Trusts the site CA and nothing else (what an enrolled agent does)."""
    return ssl.create_default_context(cafile=str(ca_file))


def listeners(config_text: str) -> list[dict[str, str]]:
    """The listener blocks of a Mosquitto config: ``{"address", "port", <option>: <value>, ...}`` each."""
    result: list[dict[str, str]] = []
    for raw in config_text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        if word == "listener":
            port, _, address = rest.partition(" ")
            result.append({"port": port, "address": address or "0.0.0.0"})
        elif result and word in ("cafile", "certfile", "keyfile", "require_certificate", "tls_version", "protocol"):
            result[-1][word] = rest.strip()
    return result
