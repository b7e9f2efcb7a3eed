"""Bodies a LAN host can send to the real LMS (issue 11, item 16, LMS half): a body over the limit gets a readable
413 in the LMS's error envelope once the LMS has read it (not an early answer and then a connection closed under a
client still sending), a body beyond what the LMS reads at all a 413 and a close, deeply nested JSON a clear 400
(not a 500, nor a vague parser message)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.lms.lms_harness import ADMIN_TOKEN, LmsFactory, LmsProcess

pytestmark = pytest.mark.integration

BIG = 3 * 1024 * 1024
HUGE = 1024 * 1024 * 1024
DEEP = b"[" * 20_000
#: uvicorn closes a connection idle this long after a complete response (its keep-alive timeout).
KEEP_ALIVE_S = 5.0


def chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    """A body without ``Content-Length`` (chunked transfer encoding)."""
    sent = 0
    while sent < total:
        yield b"x" * min(size, total - sent)
        sent += size


def request_head(lms: LmsProcess, path: str, length: int) -> bytes:
    host = lms.base_url.removeprefix("http://")
    return (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()  # fmt: skip


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a complete answer: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    while len(body) < int(headers.get("content-length", "0")):
        chunk = sock.recv(65536)
        assert chunk, "connection closed inside the answer"
        body += chunk
    return int(lines[0].split()[1]), headers, body


def test_deep_json_and_big_bodies_get_clear_errors_lms(lms_factory: LmsFactory) -> None:
    lms = lms_factory().start()
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
    with httpx.Client(base_url=lms.base_url, timeout=30.0) as http:
        for path, headers in (("/api/sync", {"Content-Type": "application/json"}),
                              ("/api/clients/agent-1/command", auth), ("/api/commands/batch", auth)):  # fmt: skip
            try:
                big = http.post(path, content=b"x" * BIG, headers=headers)
            except httpx.TransportError as exc:
                pytest.fail(f"POST {path} with a 3 MiB body: the LMS dropped the connection ({exc!r}), no answer")
            assert big.status_code == 413, big.text
            body = big.json()
            assert body["success"] is False and body["error_code"] == "payload_too_large"
            assert "limit" in body["error"]

            chunked = http.post(path, content=chunks(BIG), headers=headers)
            assert chunked.status_code == 413 and chunked.json()["error_code"] == "payload_too_large"

            deep = http.post(path, content=DEEP, headers=headers)
            assert deep.status_code == 400, f"POST {path} with [ x 20000: {deep.status_code} {deep.text}"
            assert deep.json()["error_code"] == "bad_json" and "nest" in deep.json()["error"], deep.text
        # the LMS is still fine, on the same kept-alive connection
        assert http.get("/api/health").status_code == 200

    # A client on a slow link pauses mid-upload for longer than the keep-alive timeout: the LMS must still be
    # reading its body (no early answer, connection open), and answer 413 once the body is in.
    with socket.create_connection(("127.0.0.1", int(lms.base_url.rsplit(":", 1)[1])), timeout=30) as sock:
        sock.sendall(request_head(lms, "/api/sync", BIG) + b"x" * (BIG // 2))
        time.sleep(KEEP_ALIVE_S + 1.0)
        sock.setblocking(False)
        try:
            early: bytes | None = sock.recv(65536, socket.MSG_PEEK)
        except BlockingIOError:
            early = None
        sock.settimeout(30)
        assert early is None, (
            f"the LMS answered before reading the body: a client still sending after the keep-alive timeout is cut "
            f"off (one that writes its whole body before reading sees a reset): {early[:60]!r}"
        )
        sock.sendall(b"x" * (BIG - BIG // 2))
        status, headers, body = read_response(sock)
        assert status == 413 and json.loads(body)["error_code"] == "payload_too_large"

    # A body the LMS will not even read: answered at once, and the connection closed
    with socket.create_connection(("127.0.0.1", int(lms.base_url.rsplit(":", 1)[1])), timeout=30) as sock:
        sock.sendall(request_head(lms, "/api/sync", HUGE))
        status, headers, body = read_response(sock)
        assert status == 413 and headers.get("connection") == "close", headers
        assert json.loads(body)["error_code"] == "payload_too_large"
