"""Download tickets: one agent may fetch one package version for a short while, without an API token.

A ticket is ``<expires (epoch s)>.<HMAC-SHA256 of agent id, version and expiry, base64url>``, signed with a key
drawn at process start (as the video tickets of :mod:`edge.lms.cctv.video_tickets`). The agent id travels beside
it in the URL (``?agent=``), so a leaked ticket opens one package (which is signed and not secret) for one
agent until it expires; a restart of the LMS voids all tickets.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable

MAX_TICKET_LENGTH = 80


class DownloadTickets:
    def __init__(self, ttl_s: float, *, clock: Callable[[], float] = time.time) -> None:
        self._key = secrets.token_bytes(32)
        self.ttl_s = ttl_s
        self._clock = clock

    def mint(self, agent_id: str, version: str) -> str:
        expires = int(self._clock() + self.ttl_s)
        return f"{expires}.{self._sign(agent_id, version, expires)}"

    def verify(self, ticket: str, agent_id: str, version: str) -> bool:
        if len(ticket) > MAX_TICKET_LENGTH:
            return False
        expires, _, signature = ticket.partition(".")
        if not expires.isdigit() or int(expires) < self._clock():
            return False
        return hmac.compare_digest(signature, self._sign(agent_id, version, int(expires)))

    def _sign(self, agent_id: str, version: str, expires: int) -> str:
        digest = hmac.new(self._key, f"{agent_id}|{version}|{expires}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
