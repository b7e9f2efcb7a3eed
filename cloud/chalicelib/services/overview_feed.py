"""The overview shared through CloudFront's cache: one link per scope, the same for every caller of that scope.

``GET /api/overview/feed`` (authenticated) answers a *capability link* for the caller's scope,
``/api/live/overview/{scope}/{expires}/{mac}``: ``scope`` is ``tenant`` (an unscoped caller: an admin, a viewer of
the tenant) or ``sites.<id>.<id>…`` (a caller limited to sites, e.g. an operator; sorted); ``expires`` is the end
of the *next* :data:`BUCKET_S` window (so the link lives between one and two windows and every caller of a scope
asking within one window gets the same link); ``mac`` is HMAC-SHA256 over (purpose, tenant, stage, scope,
expires) with the tenant's feed secret (``adapters/signing_key.py``). The link route takes no credentials: it
checks the MAC (constant-time) and the expiry and answers the overview a caller of that scope would see, with
``Cache-Control: public`` so CloudFront answers every admin of the scope from one origin request per
:data:`MAX_AGE_S` per edge. The overview depends on the caller's sites only, never on the role (it holds no
controls), which is why an admin and a viewer of the tenant share a link.

Anything wrong with a link (another MAC, another scope, an expiry moved, past or not on a window, a malformed
part) is the same 403, so a link tells nothing about which part failed. A link keeps working until it expires
even if its holder is disabled or loses a site meanwhile (docs/security.md: at most ``2 x BUCKET_S``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.adapters.signing_key import SigningKey
from chalicelib.domain.feed_link import LIVE_PREFIX, MAX_AGE_S
from chalicelib.domain.token import Principal, Role
from chalicelib.errors import Forbidden
from shared.topics import ID_PATTERN

#: links are issued per window of this many seconds and expire at the end of the next one
BUCKET_S = 900
TENANT_SCOPE = "tenant"
SITES_SCOPE = "sites"
#: a scope longer than this gets no link (CloudFront's URL limit is 8,192 bytes), nor one naming a site id outside
#: the id grammar: the dashboard polls ``/api/overview`` with its token instead
MAX_SCOPE_CHARS = 4000
#: what the MAC covers besides the link's parts: a key used for this purpose signs nothing else
_PURPOSE = "classtop overview feed v1"
_SITE = ID_PATTERN.removeprefix("^").removesuffix("$")
_SCOPE_RE = re.compile(rf"{TENANT_SCOPE}|{SITES_SCOPE}(\.{_SITE})*")
_EXPIRES_RE = re.compile(r"[1-9][0-9]{0,11}")
_MAC_RE = re.compile(r"[0-9a-f]{64}")
#: the one answer to any bad link
INVALID = "this overview link is not valid (expired or altered): ask GET /api/overview/feed for a new one"


@dataclass(frozen=True, slots=True)
class FeedLink:
    """A caller's link: ``path`` (``None`` when the scope is too long for a URL), when it stops working, when
    the dashboard should ask for the next one (the window's end: a new link is issued from then)."""

    path: str | None
    scope: str
    expires_at: int
    refresh_after: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.path,
            "scope": self.scope,
            "expires_at": self.expires_at,
            "refresh_after": self.refresh_after,
            "max_age_s": MAX_AGE_S,
        }


def scope_of(principal: Principal) -> str:
    """The caller's scope: what decides its overview (its sites; never its role)."""
    if principal.site_ids is None:
        return TENANT_SCOPE
    return ".".join([SITES_SCOPE, *sorted(principal.site_ids)])


def principal_of(scope: str) -> Principal:
    """The caller an overview of ``scope`` is made for: a viewer of those sites (of the tenant)."""
    if scope == TENANT_SCOPE:
        return Principal(name="overview link", role=Role.VIEWER, site_ids=None)
    return Principal(name="overview link", role=Role.VIEWER, site_ids=frozenset(scope.split(".")[1:]))


class OverviewFeed:
    def __init__(self, key: SigningKey, tenant: str, stage: str, clock: Callable[[], float] = time.time) -> None:
        self._key = key
        self._tenant = tenant
        self._stage = stage
        self._clock = clock

    def link(self, principal: Principal) -> FeedLink:
        """The link of the caller's scope in the current window (the same for every caller of the scope)."""
        window = int(self._clock() // BUCKET_S)
        refresh_after, expires = (window + 1) * BUCKET_S, (window + 2) * BUCKET_S
        scope = scope_of(principal)
        if len(scope) > MAX_SCOPE_CHARS or not _SCOPE_RE.fullmatch(scope):  # too long, or a site id no link
            return FeedLink(None, SITES_SCOPE, expires, refresh_after)  # could carry: poll /api/overview
        return FeedLink(f"{LIVE_PREFIX}/{scope}/{expires}/{self._mac(scope, expires)}", scope, expires, refresh_after)

    def verify(self, scope: str, expires: str, mac: str) -> Principal:
        """The caller a link stands for; :class:`Forbidden` (always :data:`INVALID`) for any bad link."""
        if not (_SCOPE_RE.fullmatch(scope) and _EXPIRES_RE.fullmatch(expires) and _MAC_RE.fullmatch(mac)):
            raise Forbidden(INVALID)
        until, now = int(expires), self._clock()
        if until % BUCKET_S or not now < until <= now + 2 * BUCKET_S:
            raise Forbidden(INVALID)
        if not hmac.compare_digest(mac, self._mac(scope, until)):
            raise Forbidden(INVALID)
        return principal_of(scope)

    def _mac(self, scope: str, expires: int) -> str:
        text = "\n".join([_PURPOSE, self._tenant, self._stage, scope, str(expires)])
        return hmac.new(self._key.key(), text.encode(), hashlib.sha256).hexdigest()
