"""What the browser tests share: a headless Debian Chromium driven by Selenium, waits, and a same-origin static
site for the web apps under ``web/`` with ``/api/*`` proxied to a real cloud API."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import json
import shutil
import tempfile
import threading
import urllib.parse
from collections.abc import Iterator, Mapping
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")

if CHROMIUM is None or CHROMEDRIVER is None:  # `make test` installs both; say clearly what is missing
    pytest.skip("chromium/chromium-driver are not installed (make deps-system installs them)", allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.wait import WebDriverWait  # noqa: E402

WEB = Path(__file__).resolve().parents[2] / "web"


def spki_sha256(cert_file: Path) -> str:
    """Base64 SHA-256 of a certificate's public key (what Chromium's SPKI list takes)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    key = x509.load_pem_x509_certificate(cert_file.read_bytes()).public_key()
    spki = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


@contextlib.contextmanager
def chromium(*extra_args: str, window: str = "1280,900") -> Iterator[WebDriver]:
    """A headless Chromium with its own throw-away profile; quit and removed on exit."""
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM or ""
    profile = tempfile.mkdtemp(prefix="ct-chromium-")
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", f"--window-size={window}", *extra_args,
    ):  # fmt: skip
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER or ""), options=opts)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait(driver: WebDriver, timeout: float = 15) -> WebDriverWait[WebDriver]:
    return WebDriverWait(driver, timeout)


#: request headers passed on to the API (everything else a browser sends stays here)
_FORWARD = ("authorization", "content-type", "if-none-match", "accept")
#: answer headers passed back to the browser
_BACK = ("content-type", "etag", "cache-control", "retry-after")


class _Handler(SimpleHTTPRequestHandler):
    """Files of ``web/``; ``/api/*`` forwarded to the API (same origin for the page, as behind CloudFront)."""

    upstream: urllib.parse.SplitResult
    #: stand-in answers of ``GET /api/me`` by bearer token, used only while the API has no such route
    identities: Mapping[str, dict[str, Any]]
    #: every API request forwarded: (method, path with query)
    requests: list[tuple[str, str]]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def do_GET(self) -> None:
        if self.path.startswith("/api/"):
            self._proxy()
        elif self.path in ("/", ""):
            self.send_response(302)
            self.send_header("Location", "/dashboard/")
            self.end_headers()
        else:
            super().do_GET()

    def do_POST(self) -> None:
        self._proxy()

    def do_PUT(self) -> None:
        self._proxy()

    def do_PATCH(self) -> None:
        self._proxy()

    def do_DELETE(self) -> None:
        self._proxy()

    def _proxy(self) -> None:
        if not self.path.startswith("/api/"):
            self.send_error(405)
            return
        self.requests.append((self.command, self.path))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() in _FORWARD}
        conn = http.client.HTTPConnection(self.upstream.hostname or "127.0.0.1", self.upstream.port, timeout=60)
        try:
            conn.request(self.command, self.path, body=body, headers=headers)
            answer = conn.getresponse()
            data = answer.read()
            status, back = answer.status, [(k, v) for k, v in answer.getheaders() if k.lower() in _BACK]
        finally:
            conn.close()
        if self.path == "/api/me" and status in (403, 404) and b'"error"' not in data:
            status, data, back = self._me(headers.get("Authorization", headers.get("authorization", "")))
        self.send_response(status)
        for k, v in back:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _me(self, authorization: str) -> tuple[int, bytes, list[tuple[str, str]]]:
        who = self.identities.get(authorization.removeprefix("Bearer ").strip())
        if who is None:
            refused = {"error": {"code": "unauthorized", "message": "unknown token"}}
            return 401, json.dumps(refused).encode(), [("Content-Type", "application/json")]
        body = {"success": True, "data": {**who, "auth": "token"}}
        return 200, json.dumps(body).encode(), [("Content-Type", "application/json")]


class WebSite:
    """The running site: its URL and the API requests it forwarded (a test checks what a page sent)."""

    def __init__(self, url: str, requests: list[tuple[str, str]]) -> None:
        self.url = url
        self.requests = requests

    def sent(self, method: str, prefix: str = "/api/") -> list[str]:
        """The paths of the requests of ``method`` forwarded so far that start with ``prefix``."""
        return [path for m, path in list(self.requests) if m == method and path.startswith(prefix)]


@contextlib.contextmanager
def web_site(api_url: str, identities: Mapping[str, dict[str, Any]] | None = None) -> Iterator[WebSite]:
    """Serve ``web/`` on a free loopback port with ``/api/*`` proxied to ``api_url`` (one origin, as behind
    CloudFront in AWS); ``/`` redirects to the dashboard.

    ``identities`` (token -> ``{name, role, sites}``) answers ``GET /api/me`` only while the API itself has no such
    route (it is being added with the Cognito sign-in); the API's own answer always wins."""
    requests: list[tuple[str, str]] = []
    handler = type("Handler", (_Handler,), {"upstream": urllib.parse.urlsplit(api_url),
                                            "identities": dict(identities or {}), "requests": requests})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(WEB)))
    thread = threading.Thread(target=server.serve_forever, name="web-site", daemon=True)
    thread.start()
    try:
        yield WebSite(f"http://127.0.0.1:{server.server_address[1]}", requests)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
