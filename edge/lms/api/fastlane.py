"""The command fast lane: ``POST /api/clients/{uuid}/command`` served without FastAPI's request machinery.

A command round trip on site has a ~1 ms budget and FastAPI's per-request work (middleware stack,
dependency solving, body model binding) is a third of it. This ASGI wrapper serves the route's ordinary
case directly: a bearer token of at least the operator role and a JSON body that is a valid
:class:`~edge.lms.api.command_requests.CommandRequest`. It calls the very same service (:func:`run_request`) and
returns the very same reply as the FastAPI route.

Everything else (no or bad token, a viewer token, a body that does not parse or validate, any other
content) falls through to the FastAPI app with the body replayed, so that every error keeps the one shape
and wording the rest of the API uses, and the route stays in the OpenAPI document.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edge.lms.api.command_replies import reply_to
from edge.lms.api.command_requests import CommandRequest, run_request
from edge.lms.auth import Principal, Role

if TYPE_CHECKING:
    from edge.lms.api.services import Services

_COMMAND_PATH = re.compile(r"^/api/clients/([^/]+)/command$")


class CommandFastLane:
    """Wraps the API app; see the module docstring. ``max_body_bytes`` bounds what it reads itself."""

    def __init__(self, app: ASGIApp, services: Services, max_body_bytes: int) -> None:
        self.app = app
        self.services = services
        self.max_body_bytes = max_body_bytes
        self.served = 0  # requests this lane answered itself (the rest went to FastAPI)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = None
        if scope["type"] == "http" and scope["method"] == "POST":
            match = _COMMAND_PATH.match(scope["path"])
        if match is None:
            await self.app(scope, receive, send)
            return
        principal = self._operator(scope)
        body, complete = await self._read(receive)
        request = self._parse(body) if principal is not None and complete else None
        if request is None or principal is None:
            await self.app(scope, _replay(body, receive), send)
            return
        self.served += 1
        response = await reply_to(run_request(self.services.commands, principal, match.group(1), request))
        await response(scope, receive, send)

    def _operator(self, scope: Scope) -> Principal | None:
        """The caller when its bearer token is valid and at least an operator's; else None (FastAPI says why)."""
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                if scheme.lower() != "bearer" or not token:
                    return None
                principal = self.services.tokens.verify(token.strip())
                return principal if principal is not None and principal.role >= Role.OPERATOR else None
        return None

    async def _read(self, receive: Receive) -> tuple[bytes, bool]:
        """The request body, and whether it was read whole (False: disconnected or over the limit)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b"".join(chunks), False
            chunk = message.get("body", b"")
            size += len(chunk)
            chunks.append(chunk)
            if size > self.max_body_bytes:
                return b"".join(chunks), False
            if not message.get("more_body", False):
                return b"".join(chunks), True

    @staticmethod
    def _parse(body: bytes) -> CommandRequest | None:
        try:
            return CommandRequest.model_validate_json(body)
        except (ValidationError, ValueError):
            return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that yields the already-read body once, then defers to the real one."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
