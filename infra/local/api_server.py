"""The local cloud's HTTP server: Chalice's local server (``chalice.local``) answering a method the app does not
declare on a path it has with ``405`` and an ``Allow`` header (RFC 9110), in the API's error envelope, for every
method (Chalice's own server answers ``TRACE`` with an HTML 501 and a known method with API Gateway's 403
``Missing Authentication Token``). In AWS, the HTTP API answers an undeclared method with a 404 ``Not Found``
(a REST API, with that 403; docs/api.md).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from chalice.app import Chalice
from chalice.config import Config
from chalice.local import ChaliceRequestHandler, CustomLocalChalice, LocalChalice, LocalDevServer, RouteMatcher

from shared.errors import ErrorCode


class ApiRequestHandler(ChaliceRequestHandler):
    app: Chalice
    matcher: RouteMatcher

    def _allowed(self) -> list[str] | None:
        """The methods the app declares on the request's path (``None``: no such path)."""
        try:
            match = self.matcher.match_route(urlsplit(self.path).path)
        except ValueError:
            return None
        return sorted(self.app.routes[match.route])

    def _checked_handle(self) -> None:
        allowed = self._allowed()
        if allowed is None or self.command in allowed or self.command == "OPTIONS":
            self._generic_handle()
            return
        self._parse_payload()  # read the body so the connection stays usable
        body = json.dumps({"error": {"code": ErrorCode.NOT_SUPPORTED.value,
                                     "message": f"{self.command} is not a method of {urlsplit(self.path).path}"}})
        self._send_http_response(405, {"Allow": ", ".join(allowed)}, body)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = _checked_handle

    def __getattr__(self, name: str) -> Any:
        """Any other method (``TRACE``, ``QUERY``...): the same check (``http.server`` answers 501 otherwise)."""
        if name.startswith("do_") and name[3:].isalpha() and name[3:].isupper():
            return self._checked_handle
        raise AttributeError(name)


def api_server(app: Chalice, config: Config, host: str, port: int) -> LocalDevServer:
    """Chalice's local server of ``app`` with :class:`ApiRequestHandler` (what ``chalice.local.create_local_server``
    does, with this handler)."""
    CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
    app.__class__ = CustomLocalChalice
    handler = type("BoundApiRequestHandler", (ApiRequestHandler,),
                   {"app": app, "matcher": RouteMatcher(list(app.routes))})
    return LocalDevServer(app, config, host, port, handler_cls=handler)
