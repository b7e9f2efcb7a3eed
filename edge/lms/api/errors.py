"""Error bodies and handlers: every error is JSON ``{"success": false, "error", "error_code", "detail"}``.

* malformed JSON (also JSON nested deeper than the parser goes) -> 400 ``bad_json``; a body of the wrong shape
  -> 422 ``bad_payload`` with the fields named;
* a body over :data:`MAX_BODY_BYTES` -> 413 ``payload_too_large`` (checked before the app reads it; the body is
  read and thrown away up to :data:`MAX_DISCARD_BYTES` first, so that a client that writes its whole body before
  reading gets the answer rather than a reset connection; beyond that the LMS answers at once and closes);
* unknown paths -> 404 ``not_found``; anything unexpected -> 500 ``internal`` (logged, no traceback sent).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import ErrorCode

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024
#: A body over the limit but not over this is read to its end (and dropped) before the 413 is sent.
MAX_DISCARD_BYTES = 16 * 1024 * 1024

_HTTP_CODES = {
    400: ErrorCode.BAD_PAYLOAD,
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.NOT_SUPPORTED,
    409: ErrorCode.CONFLICT,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    429: ErrorCode.BUSY,
    503: ErrorCode.BUSY,
}


def error_body(message: str, code: ErrorCode, **extra: Any) -> dict[str, Any]:
    return {"success": False, "error": message, "error_code": code.value, "detail": message, **extra}


def error_response(status: int, message: str, code: ErrorCode, **extra: Any) -> JSONResponse:
    return JSONResponse(error_body(message, code, **extra), status_code=status)


def _describe(errors: list[Any]) -> str:
    parts = []
    for err in errors[:5]:
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        parts.append(f"{'.'.join(loc) or '(body)'}: {err.get('msg', 'invalid')}")
    if len(errors) > 5:
        parts.append(f"... and {len(errors) - 5} more")
    return "; ".join(parts)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    bad_json = next((e for e in errors if e.get("type") == "json_invalid"), None)
    if bad_json is not None:
        reason = (bad_json.get("ctx") or {}).get("error", "malformed JSON")
        return error_response(400, f"request body is not valid JSON: {reason}", ErrorCode.BAD_JSON)
    return error_response(422, f"invalid request: {_describe(errors)}", ErrorCode.BAD_PAYLOAD)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    cause = exc.__cause__
    if exc.status_code == 400 and isinstance(cause, RecursionError):  # FastAPI's body parser hit the stack limit
        return error_response(400, "request body is not valid JSON: it nests arrays/objects too deeply",
                              ErrorCode.BAD_JSON)  # fmt: skip
    if exc.status_code == 400 and isinstance(cause, ValueError):  # e.g. not UTF-8
        return error_response(400, f"request body is not valid JSON: {cause}", ErrorCode.BAD_JSON)
    code = _HTTP_CODES.get(exc.status_code, ErrorCode.INTERNAL)
    response = error_response(exc.status_code, str(exc.detail), code)
    if exc.headers:
        response.headers.update(exc.headers)
    if exc.status_code == 405:  # Starlette names the methods of one route of the path; the path has them all
        response.headers["Allow"] = _allowed_methods(request)
    return response


def _allowed_methods(request: Request) -> str:
    """The methods the API's document has for the request's path (``Allow`` of a 405; HEAD beside GET): of the
    path items it matches, the most specific (fewest ``{parameters}``: ``/api/clients/register``, not
    ``/api/clients/{uuid}``)."""
    matching = [
        (template.count("{"), item) for template, item in request.app.openapi()["paths"].items()
        if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), request.url.path)
    ]  # fmt: skip
    methods: set[str] = set()
    if matching:
        fewest = min(count for count, _ in matching)
        methods = {method.upper() for count, item in matching if count == fewest for method in item}
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("api: %s %s failed", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal error (see the LMS log)", ErrorCode.INTERNAL)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


class BodyLimit:
    """ASGI middleware: refuse request bodies over ``max_bytes`` with 413 before the app parses them.

    A declared ``Content-Length`` is checked up front (uvicorn enforces it); a chunked body is read up to the
    limit and then replayed to the app. A refused body is read to its end and dropped when it is not over
    :data:`MAX_DISCARD_BYTES` (the answer then comes once the client has sent it, on a connection that stays
    usable); a bigger one, or one sent with ``Expect: 100-continue`` (the client waits for our word before
    sending it), is answered at once with ``Connection: close``.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        length, expects = None, False
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = None
            elif name == b"expect":
                expects = value.strip().lower() == b"100-continue"
        if length is not None:
            if length <= self.max_bytes:
                await self.app(scope, receive, send)
            elif expects or length > MAX_DISCARD_BYTES:
                await self._too_large(scope, receive, send, length, close=True)
            elif await _drain(receive, length):
                await self._too_large(scope, receive, send, length, close=False)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, receive, send)  # disconnected: let the app see it
                return
            body = message.get("body", b"")
            size += len(body)
            more = bool(message.get("more_body", False))
            if size > self.max_bytes:
                drained = not more or await _drain(receive, MAX_DISCARD_BYTES - size)
                await self._too_large(scope, receive, send, size, close=not drained, more=not drained)
                return
            chunks.append(body)
            if not more:
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(
        self, scope: Scope, receive: Receive, send: Send, size: int, *, close: bool, more: bool = False
    ) -> None:
        what = f"more than {size} bytes" if more else f"{size} bytes"
        response = error_response(
            413, f"request body of {what} exceeds the {self.max_bytes}-byte limit", ErrorCode.PAYLOAD_TOO_LARGE
        )
        if close:
            response.headers["Connection"] = "close"
        await response(scope, receive, send)


async def _drain(receive: Receive, budget: int) -> bool:
    """Read the rest of a request body and drop it. False when the client left or sent more than ``budget``."""
    read = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return False
        read += len(message.get("body", b""))
        if read > budget:
            return False
        if not message.get("more_body", False):
            return True
