"""Webhook deliveries over https to addresses on the public internet only (docs/security.md#webhooks).

A tenant's admin names the URL; the cloud POSTs to it from inside AWS, so a URL must not reach what only the
cloud can reach (SSRF): the instance metadata service, the VPC, loopback. :func:`check_url` refuses at
configuration time what is plainly wrong (not https, credentials in the URL, an IP literal that is not public); at
send time :meth:`WebhookSender.send` resolves the host again, refuses it if **any** address is not public
(private, loopback, link-local, the metadata addresses, shared/CGNAT, multicast, reserved), and connects to the
address it checked (no second resolution a DNS-rebinding attacker could answer differently), verifying the
certificate for the URL's host name. Redirects are not followed.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from chalicelib.errors import BadRequest

Resolver = Callable[[str, int], list[str]]
#: addresses no webhook may reach, whatever ``is_global`` says of them
_METADATA = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})
MAX_URL_LENGTH = 2048


class WebhookError(Exception):
    """A delivery that did not succeed (its reason is the message); the caller retries it later."""


class WebhookRefused(WebhookError):
    """A URL or an address the cloud will not send to (retrying will not help until DNS changes)."""


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast and ip not in _METADATA


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the system resolver)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise WebhookError(f"cannot resolve {host}: {exc}") from None
    return sorted({str(info[4][0]) for info in infos})


@dataclass(frozen=True, slots=True)
class WebhookUrl:
    host: str
    port: int
    target: str  # path and query


def check_url(url: str) -> WebhookUrl:
    """``url`` split, if it may be a webhook: https, a host, no user or password, a port 1-65535, no fragment, and
    not an IP literal that is not public. A :class:`BadRequest` says what is wrong."""
    if len(url) > MAX_URL_LENGTH or any(c.isspace() or ord(c) < 32 for c in url):
        raise BadRequest(f"url: at most {MAX_URL_LENGTH} characters, no spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port or 443
    except ValueError as exc:
        raise BadRequest(f"url: not a URL ({exc})") from None
    if parts.scheme != "https":
        raise BadRequest("url: webhooks are sent over https only")
    if not parts.hostname:
        raise BadRequest("url: names no host")
    if parts.username is not None or parts.password is not None:
        raise BadRequest("url: must not hold a user name or password (the signature authenticates the sender)")
    if parts.fragment:
        raise BadRequest("url: must not hold a fragment")
    host = parts.hostname
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None and not is_public(str(literal)):
        raise BadRequest(f"url: {host} is not a public address (private, loopback, link-local or metadata)")
    if literal is None and (host == "localhost" or host.endswith((".localhost", ".local", ".internal"))):
        raise BadRequest(f"url: {host} is not a public host name")
    target = parts.path or "/"
    if parts.query:
        target = f"{target}?{parts.query}"
    return WebhookUrl(host, port, target)


class _PinnedHttps(http.client.HTTPSConnection):
    """An https connection to one checked address, verifying the certificate for the URL's host name."""

    def __init__(self, host: str, port: int, address: str, *, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._context = context

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


class WebhookSender:
    """POSTs a body to a webhook URL (see the module docstring). ``allow`` decides which resolved addresses may be
    reached (:func:`is_public` in production; a test of a loopback receiver passes its own), ``context`` which
    certificates are trusted (the system's by default)."""

    def __init__(self, *, timeout_s: float = 5.0, resolver: Resolver = resolve,
                 allow: Callable[[str], bool] = is_public, context: ssl.SSLContext | None = None) -> None:
        self._timeout_s = timeout_s
        self._resolver = resolver
        self._allow = allow
        self._context = context or ssl.create_default_context()

    def send(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """POST ``body``; the HTTP status (2xx). :class:`WebhookRefused` for an address not allowed,
        :class:`WebhookError` for any other failure (no answer, TLS, a status other than 2xx)."""
        try:
            parsed = check_url(url)
        except BadRequest as exc:
            raise WebhookRefused(exc.message) from None
        addresses = self._resolver(parsed.host, parsed.port)
        if not addresses:
            raise WebhookError(f"{parsed.host} resolves to no address")
        refused = [a for a in addresses if not self._allow(a)]
        if refused:
            raise WebhookRefused(f"{parsed.host} resolves to {', '.join(refused)}: not a public address")
        connection = _PinnedHttps(parsed.host, parsed.port, addresses[0], timeout=self._timeout_s,
                                  context=self._context)
        try:
            connection.request("POST", parsed.target, body=body,
                               headers={"Content-Type": "application/json", "User-Agent": "ClassTop-Alerts/1",
                                        **headers})
            response = connection.getresponse()
            response.read(4096)
        except (OSError, http.client.HTTPException) as exc:
            raise WebhookError(f"POST to {parsed.host} failed: {exc}") from None
        finally:
            connection.close()
        if not 200 <= response.status < 300:
            raise WebhookError(f"{parsed.host} answered HTTP {response.status}")
        return response.status
