"""The twin's stand-in for CloudFront: the cloud's HTTP server also serves the web apps' static files (``web/``:
``/`` leads to ``/dashboard/``, which loads ``/common/`` and ``/vendor/``), and every answer, the API's too,
carries the headers of CloudFront's response headers policy (``infra/aws/site_hosting.py``). ``/api/*`` goes to
the Chalice app as before.

Only regular files inside the directory are served (no listing, no ``..``, no symbolic link out of it, no dot
files), for GET and HEAD; anything else outside ``/api/`` is a 404.
"""

from __future__ import annotations

import mimetypes
import urllib.parse
from pathlib import Path

from chalice.app import Chalice
from chalice.config import Config
from chalice.local import ChaliceRequestHandler, CustomLocalChalice, LocalChalice, LocalDevServer, RouteMatcher

from infra.aws.site_hosting import SECURITY_HEADERS, content_security_policy
from infra.local.api_server import ApiRequestHandler

REPO = Path(__file__).resolve().parents[2]
WEB_DIR = REPO / "web"
#: files of web/ that are not the apps' (the vendoring script)
_NOT_SERVED = (".py",)
API_PREFIX = "/api/"
_TYPES = {".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".html": "text/html; charset=utf-8", ".json": "application/json",
          ".svg": "image/svg+xml", ".woff2": "font/woff2", ".png": "image/png", ".ico": "image/x-icon"}


def security_headers(image_sources: str) -> dict[str, str]:
    """The headers of every answer; ``image_sources`` is also where the page fetches from (moto's S3 serves the
    camera snapshots and the overview's objects alike)."""
    return {**SECURITY_HEADERS, "Content-Security-Policy": content_security_policy(image_sources, image_sources)}


def resolve_file(root: Path, url_path: str) -> Path | None:
    """The file ``url_path`` names under ``root`` (``/`` is ``index.html``), or ``None``."""
    path = urllib.parse.unquote(urllib.parse.urlsplit(url_path).path)
    if "\x00" in path or "\\" in path:
        return None
    parts = [p for p in path.split("/") if p]
    if any(p.startswith(".") for p in parts):
        return None
    candidate = root.joinpath(*parts) if parts else root / "index.html"
    try:
        real_root = root.resolve(strict=True)
        real = candidate.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if real.is_dir():
        real = real / "index.html"
    if not real.is_file() or not real.is_relative_to(real_root) or real.suffix in _NOT_SERVED:
        return None
    return real


def dashboard_handler(app: Chalice, root: Path | None, image_sources: str) -> type[ChaliceRequestHandler]:
    """The API's request handler (405 to an undeclared method) that also serves ``root``'s files outside ``/api/``
    (``None``: no files, 404)."""
    headers = security_headers(image_sources)

    class DashboardRequestHandler(ApiRequestHandler):
        def end_headers(self) -> None:
            for name, value in headers.items():
                self.send_header(name, value)
            super().end_headers()

        def do_GET(self) -> None:
            if self.path.startswith(API_PREFIX):
                self._checked_handle()
            else:
                self._file(with_body=True)

        def do_HEAD(self) -> None:
            if self.path.startswith(API_PREFIX):
                self._checked_handle()
            else:
                self._file(with_body=False)

        def _file(self, *, with_body: bool) -> None:
            found = None if root is None else resolve_file(root, self.path)
            if found is None:
                body = b'{"message": "Not Found"}'
                self.send_response(404)
                self.send_header("Content-Type", "application/json")
            else:
                body = found.read_bytes()
                kind = _TYPES.get(found.suffix) or mimetypes.guess_type(found.name)[0] or "application/octet-stream"
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Cache-Control", "no-cache")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if with_body:
                self.wfile.write(body)

    DashboardRequestHandler.app = app
    DashboardRequestHandler.matcher = RouteMatcher(list(app.routes))
    return DashboardRequestHandler


def local_server(app: Chalice, config: Config, host: str, port: int, root: Path | None,
                 image_sources: str) -> LocalDevServer:
    """Chalice's ``create_local_server`` (the app's ``current_request`` made per thread) with the handler of
    :func:`dashboard_handler`; unlike it, callable more than once in a process."""
    if not isinstance(app, LocalChalice):
        CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
        app.__class__ = CustomLocalChalice
    return LocalDevServer(app, config, host, port, handler_cls=dashboard_handler(app, root, image_sources))
