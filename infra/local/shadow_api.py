"""The twin's Device Shadow REST API: the ``iot-data`` endpoint's shadow operations, for boto3.

The cloud's production adapter (``cloud/chalicelib/adapters/shadows.py``: boto3 ``iot-data``) is pointed at this
server in the twin, so the cloud's calls go through the same client, the same serialization and the same error
parsing as in AWS. It serves, from :class:`infra.local.shadow_documents.ShadowDocuments`:

* ``GET /things/<thing>/shadow[?name=<shadow>]`` -- GetThingShadow;
* ``POST /things/<thing>/shadow[?name=<shadow>]`` -- UpdateThingShadow (then ``update/accepted``,
  ``update/documents`` and ``update/delta`` on the stand-in broker, as IoT Core publishes them for REST updates);
* ``DELETE /things/<thing>/shadow[?name=<shadow>]`` -- DeleteThingShadow (then ``delete/accepted``);
* ``GET /api/things/shadow/ListNamedShadowsForThing/<thing>?nextToken=&pageSize=`` -- ListNamedShadowsForThing.

Errors are AWS's: the HTTP status with ``x-amzn-ErrorType`` (``InvalidRequestException`` 400,
``ResourceNotFoundException`` 404, ``ConflictException`` 409, ``RequestEntityTooLargeException`` 413,
``UnsupportedDocumentEncodingException`` 415, ``MethodNotAllowedException`` 405, ``InternalFailureException``
500) and a JSON body with ``code`` and ``message``; no MQTT message follows a refused request ("If the client
updates the document using the REST API, then it receives the HTTP error code as part of its response, and no
MQTT error messages are emitted"). Requests are not signed-checked (no IAM in the twin). Loopback only.
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from infra.local.shadow_documents import ShadowDocuments
from infra.local.shadow_requests import MAX_REQUEST_BYTES, ShadowRequestError
from infra.local.shadows import ShadowNotifier

log = logging.getLogger(__name__)

ERROR_TYPES: dict[int, str] = {
    400: "InvalidRequestException",
    401: "UnauthorizedException",
    404: "ResourceNotFoundException",
    405: "MethodNotAllowedException",
    409: "ConflictException",
    413: "RequestEntityTooLargeException",
    415: "UnsupportedDocumentEncodingException",
    429: "ThrottlingException",
    500: "InternalFailureException",
    503: "ServiceUnavailableException",
}

_SHADOW_PREFIX = "/things/"
_LIST_PREFIX = "/api/things/shadow/ListNamedShadowsForThing/"


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("shadow API: " + format, *args)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_REQUEST_BYTES:
            self.close_connection = True
            raise ShadowRequestError(413, "The payload exceeds the maximum size allowed")
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self, method: str) -> None:
        try:
            body = self._body()
            status, answer = self._route(method, body)
        except ShadowRequestError as exc:
            status, answer = exc.code, {"code": exc.code, "message": exc.message}
        except Exception as exc:  # the stand-in's own failure: AWS's 500
            log.error("shadow API: %s %s failed: %s", method, self.path, exc, exc_info=True)
            status, answer = 500, {"code": 500, "message": "Internal service failure"}
        payload = json.dumps(answer, separators=(",", ":"), ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if status >= 400:
            self.send_header("x-amzn-ErrorType", ERROR_TYPES.get(status, "InternalFailureException"))
        self.end_headers()
        self.wfile.write(payload)

    def _route(self, method: str, body: bytes) -> tuple[int, dict[str, Any]]:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        documents, notifier = self.server.documents, self.server.notifier
        if url.path.startswith(_LIST_PREFIX) and method == "GET":
            thing = unquote(url.path[len(_LIST_PREFIX):])
            size = query.get("pageSize")
            if size is not None and not size.isdigit():
                raise ShadowRequestError(400, "pageSize must be a number")
            return 200, documents.list_named(thing, query.get("nextToken"), int(size) if size is not None else None)
        parts = url.path[len(_SHADOW_PREFIX):].split("/") if url.path.startswith(_SHADOW_PREFIX) else []
        if len(parts) != 2 or parts[1] != "shadow":
            raise ShadowRequestError(404, "Not Found")
        thing, name = unquote(parts[0]), query.get("name")
        if method == "GET":
            return 200, documents.get(thing, name)
        if method == "POST":
            result = documents.update(thing, name, body)
            notifier.updated(thing, name, result)
            return 200, result.accepted
        if method == "DELETE":
            answer = documents.delete(thing, name)
            notifier.deleted(thing, name, answer)
            return 200, answer
        raise ShadowRequestError(405, "Method Not Allowed")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], documents: ShadowDocuments, notifier: ShadowNotifier) -> None:
        super().__init__(address, _Handler)
        self.documents = documents
        self.notifier = notifier


class ShadowApi:
    """The REST API on ``host:port`` (0: a free port) in a thread; ``url`` is the boto3 ``endpoint_url``."""

    def __init__(self, documents: ShadowDocuments, notifier: ShadowNotifier, host: str = "127.0.0.1",
                 port: int = 0) -> None:  # fmt: skip
        self._server = _Server((host, port), documents, notifier)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, name="shadow-api", daemon=True)
        self._thread.start()
        log.info("shadow REST API on %s", self.url)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
