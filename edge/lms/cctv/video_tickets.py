"""Short-lived tickets for the LMS's video paths, so that API tokens never travel in URLs.

An ``<img src>`` cannot send an ``Authorization`` header, and a token in ``?token=`` would land in access logs,
browser history and ``Referer`` headers. Instead, a caller with a viewer token mints a ticket for one video path
(``POST /api/cctv/tickets``) and puts it in that path's ``?ticket=``. A ticket is

``v1.<token id>.<role>.<expires (epoch s)>.<HMAC-SHA256 of all that and the path, base64url>``

signed with a key drawn at process start (a restart voids all tickets), valid for :data:`TTL_S` seconds and for
exactly the path it was minted for (a stream already open keeps running after the ticket expires). It carries
no secret: a leaked ticket opens one camera view for at most a minute.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

from edge.lms.auth import AuthError, Principal, Role

TTL_S = 60.0
VERSION = "v1"
MAX_TICKET_LENGTH = 200


@dataclass(frozen=True, slots=True)
class Ticket:
    ticket: str
    expires_at: float


class VideoTickets:
    def __init__(self, *, ttl_s: float = TTL_S, clock: Callable[[], float] = time.time) -> None:
        self._key = secrets.token_bytes(32)
        self.ttl_s = ttl_s
        self._clock = clock

    def mint(self, principal: Principal, path: str) -> Ticket:
        """A ticket for ``path`` (as sent, percent-encoded or not) on behalf of ``principal``."""
        expires = int(self._clock() + self.ttl_s)
        head = f"{VERSION}.{principal.token_id}.{principal.role.label}.{expires}"
        return Ticket(f"{head}.{self._sign(head, unquote(path))}", float(expires))

    def verify(self, ticket: str, path: str) -> Principal | None:
        """The principal a valid, unexpired ticket for ``path`` (the request's decoded path) speaks for."""
        if len(ticket) > MAX_TICKET_LENGTH:
            return None
        head, _, signature = ticket.rpartition(".")
        parts = head.split(".")
        if len(parts) != 4 or parts[0] != VERSION or not parts[1].isdigit() or not parts[3].isdigit():
            return None
        if not hmac.compare_digest(signature, self._sign(head, path)) or int(parts[3]) < self._clock():
            return None
        try:
            role = Role.parse(parts[2])
        except AuthError:
            return None
        return Principal(int(parts[1]), f"ticket of token #{parts[1]}", role)

    def _sign(self, head: str, path: str) -> str:
        digest = hmac.new(self._key, f"{head}|{path}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
