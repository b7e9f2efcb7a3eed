"""What the opt-in plain-HTTP listener (``[classtop_plain_http]``) serves: the ClassTop clients' paths only.

ClassTop desktop clients send no credentials (docs/classtop.md#the-wire-contract): health, register, sync, their courses
and schedule, and the ``/ws/{uuid}`` WebSocket. Everything else — bearer tokens, enrolment, the console — is
answered 404 here (a WebSocket elsewhere is refused), so no secret ever travels in clear; it is all on the
HTTPS port.
"""

from __future__ import annotations

import json
import re

from starlette.types import ASGIApp, Receive, Scope, Send

from shared.errors import ErrorCode

_PATHS = re.compile(
    r"^/api/(?:health|clients/register|sync|clients/[^/]+/(?:courses|schedule))$"
)
_WS_PATH = re.compile(r"^/ws/[^/]+$")


def is_classtop_path(scope: Scope) -> bool:
    path = scope.get("path", "")
    if scope["type"] == "websocket":
        return bool(_WS_PATH.match(path))
    return bool(_PATHS.match(path))


class ClassTopOnly:
    """An ASGI filter: ClassTop clients' paths go through to ``app``; the rest is refused."""

    def __init__(self, app: ASGIApp, https_port: int) -> None:
        self._app = app
        self._body = json.dumps(
            {
                "success": False,
                "error": f"only ClassTop clients' paths are served over plain HTTP: use https on port {https_port}",
                "error_code": ErrorCode.NOT_FOUND.value,
            }
        ).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" or is_classtop_path(scope):
            await self._app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})  # before accept: HTTP 403
            return
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(self._body)).encode())]
        await send({"type": "http.response.start", "status": 404, "headers": headers})
        await send({"type": "http.response.body", "body": self._body})
