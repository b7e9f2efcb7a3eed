"""The site console's pages (``web/console``) and what they share with the district dashboard (``web/common``,
``web/vendor``), served by the LMS with strict security headers (docs/console.md).

The console's page is ``/`` (its files stay under ``/console/``); ``/console/``, the address it had while a first
console still held ``/``, redirects there, so old bookmarks keep working and the page has one name. Every response
of these paths carries a Content-Security-Policy that allows only this origin's files (the one inline script, the
import map, by its hash), no framing, no sniffing and no referrer.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

WEB_DIR = Path(__file__).resolve().parents[3] / "web"
WEB_PARTS = ("console", "common", "vendor")
CONSOLE_PAGE = WEB_DIR / "console" / "index.html"
#: the console's former addresses: each redirects to ``/`` (a browser keeps the ``#/fleet`` part of the URL)
FORMER_PATHS = ("/console", "/console/", "/console/index.html")
_INLINE = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S)


def content_security_policy(page: Path) -> str:
    """The CSP of ``page``: its own origin only, and its inline scripts (the import map) by their hashes."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'"
        for s in _INLINE.findall(page.read_text(encoding="utf-8"))
    ) if page.is_file() else ""  # fmt: skip
    return (
        f"default-src 'self'; script-src 'self' {hashes}; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    )


class WebHeaders:
    """ASGI middleware: the security headers on every response of the web pages' paths."""

    def __init__(self, app: ASGIApp, csp: str) -> None:
        self.app = app
        self.headers = [
            (b"content-security-policy", csp.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"),
        ]
        self.prefixes = tuple(f"/{part}/" for part in WEB_PARTS)

    def covers(self, path: str) -> bool:
        return path == "/" or path in FORMER_PATHS or path.startswith(self.prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.covers(str(scope.get("path", ""))):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.headers]
            await send(message)

        await self.app(scope, receive, with_headers)


async def console_page() -> FileResponse:
    return FileResponse(CONSOLE_PAGE, media_type="text/html", headers={"Cache-Control": "no-cache"})


async def former_console_path() -> RedirectResponse:
    return RedirectResponse("/", status_code=308)


def mount_web_pages(app: FastAPI) -> None:
    """``/`` the console's page, its former addresses redirected there, then the files of ``web/``'s parts."""
    app.add_api_route("/", console_page, methods=["GET", "HEAD"], include_in_schema=False)
    for path in FORMER_PATHS:
        app.add_api_route(path, former_console_path, methods=["GET", "HEAD"], include_in_schema=False)
    for part in WEB_PARTS:
        if (WEB_DIR / part).is_dir():
            app.mount(f"/{part}", StaticFiles(directory=WEB_DIR / part), name=f"web-{part}")
    app.add_middleware(WebHeaders, csp=content_security_policy(CONSOLE_PAGE))
