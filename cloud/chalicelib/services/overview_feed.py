"""The overview the dashboard polls straight from S3: one object per *active* scope in the tenant's private overview
bucket, read through presigned GET URLs, so that no poll reaches CloudFront, API Gateway or Lambda.

* **Scopes.** ``tenant`` (an unscoped caller: an admin, a viewer of the tenant) or ``sites.<id>.<id>…`` (a caller
  limited to sites, e.g. an operator; sorted): the overview depends on the caller's sites only, never on the role
  (it holds no controls), so an admin and a viewer of the tenant read the same object. A scope's object is named by
  the SHA-256 of the scope (:func:`object_key`): no site id reaches the key, so no id can play path tricks.
* **The link** (``GET /api/overview/feed``, authenticated): a presigned GET URL of the caller's own scope's object
  (there is no parameter naming a scope), valid :data:`LINK_S`; the dashboard asks for the next one
  :data:`REFRESH_BEFORE_S` before it expires, or on a 403. The request marks the scope active for :data:`ACTIVE_S`
  (two links' lifetimes; written only when less than one is left: ``repositories/overview_scope.py``), and a scope
  that was not active has its object written at once, so the page never waits for the minute's pass.
* **The minute's pass** (:meth:`OverviewFeed.refresh`, run by ``evaluate_alerts`` after the summary's pass): per
  active scope, the overview as a caller of that scope sees it; the object is written (gzip-encoded JSON,
  ``Cache-Control`` :data:`CACHE_CONTROL`; S3 gives it its ETag) only when its digest changed — the digest leaves
  out what only moves with the clock (``generated_at`` and the ages, which the object does not carry: the page
  computes them from ``last_heartbeat``) — or when it is :data:`REWRITE_S` old. A scope nobody asked a link for in
  :data:`ACTIVE_S` is dropped (its object is left to the bucket's lifecycle rule).

The overview thus moves with the minute's pass (up to about 70 s behind the fleet) rather than per request; the
object's ``generated_at`` says when its content last changed and ``refresh_s`` how often it is checked
(docs/dashboard.md). A URL is a bearer capability for one scope until it expires (docs/security.md), as the signed
links of the previous design were; it stops working earlier if the credentials that signed it expire (a 403: the
dashboard asks again).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.adapters.overview_objects import OverviewBucketNotConfigured, OverviewObjects
from chalicelib.domain.token import Principal, Role
from chalicelib.errors import CloudError
from chalicelib.repositories.overview_scope import OverviewScopeRepository, ScopeEntry
from chalicelib.services.overview import OverviewService
from shared.topics import ID_PATTERN

log = logging.getLogger(__name__)

#: a presigned URL's lifetime (seconds): the longest its holder keeps reading the scope after losing access
LINK_S = 900
#: the dashboard asks for the next URL this long before the current one expires
REFRESH_BEFORE_S = 120
#: a scope stays active this long after the last link asked for it (two links' lifetimes)
ACTIVE_S = 2 * LINK_S
#: an unchanged object is written again after this long (the bucket's lifecycle rule never expires an active one)
REWRITE_S = 6 * 3600
#: how often the minute's pass checks the objects (the rate of ``evaluate_alerts``), and the dashboard polls
REFRESH_S = 60
POLL_S = 10
#: the objects' caching: none in shared caches, always revalidated (the dashboard polls with If-None-Match)
CACHE_CONTROL = "private, no-cache"
OBJECT_PREFIX = "overview/v1/"
TENANT_SCOPE = "tenant"
SITES_SCOPE = "sites"
#: a scope longer than this gets no object (it is recorded in one item with the others), nor one naming a site id
#: outside the id grammar: the dashboard polls ``/api/overview`` with its token instead
MAX_SCOPE_CHARS = 4000
_SITE = ID_PATTERN.removeprefix("^").removesuffix("$")
_SCOPE_RE = re.compile(rf"{TENANT_SCOPE}|{SITES_SCOPE}(\.{_SITE})*")
#: what moves with the clock alone: left out of the object (the page computes ages from ``last_heartbeat``)
_AGES = ("heartbeat_age_s", "oldest_heartbeat_age_s")


@dataclass(frozen=True, slots=True)
class FeedLink:
    """A caller's URL (``None`` when its scope gets no object), when it expires and when to ask for the next."""

    url: str | None
    scope: str
    expires_at: int
    refresh_after: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "scope": self.scope,
            "expires_at": self.expires_at,
            "refresh_after": self.refresh_after,
            "poll_s": POLL_S,
            "refresh_s": REFRESH_S,
        }


@dataclass(frozen=True, slots=True)
class FeedPass:
    scopes: int = 0
    written: int = 0
    dropped: int = 0
    failed: int = 0


def scope_of(principal: Principal) -> str:
    """The caller's scope: what decides its overview (its sites; never its role)."""
    if principal.site_ids is None:
        return TENANT_SCOPE
    return ".".join([SITES_SCOPE, *sorted(principal.site_ids)])


def principal_of(scope: str) -> Principal:
    """The caller an overview of ``scope`` is made for: a viewer of those sites (of the tenant)."""
    if scope == TENANT_SCOPE:
        return Principal(name="overview feed", role=Role.VIEWER, site_ids=None)
    return Principal(name="overview feed", role=Role.VIEWER, site_ids=frozenset(scope.split(".")[1:]))


def scope_key(scope: str) -> str:
    """The scope's key: its entry's and its object's name (hex, so nothing of the scope's text reaches S3)."""
    return hashlib.sha256(f"classtop overview scope v1\n{scope}".encode()).hexdigest()[:40]


def object_key(key: str) -> str:
    return f"{OBJECT_PREFIX}{key}.json"


def render(overview: dict[str, Any]) -> tuple[bytes, str]:
    """The object's body (gzip, deterministic) and the digest of what it shows (without ``generated_at``)."""
    shown = {k: v for k, v in overview.items() if k != "generated_at"}
    shown["sites"] = [{k: v for k, v in row.items() if k not in _AGES} for row in overview.get("sites", [])]
    shown["sync"] = {k: v for k, v in (overview.get("sync") or {}).items() if k not in _AGES}
    text = json.dumps(shown, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(text.encode()).hexdigest()
    body = {**shown, "generated_at": overview.get("generated_at"), "refresh_s": REFRESH_S}
    return gzip.compress(json.dumps(body, separators=(",", ":")).encode(), mtime=0), digest


class OverviewFeed:
    def __init__(self, overview: OverviewService, scopes: OverviewScopeRepository, objects: OverviewObjects | None,
                 clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        self._overview = overview
        self._scopes = scopes
        self._objects = objects
        self._clock = clock

    def link(self, principal: Principal) -> FeedLink:
        """A URL of the caller's scope's object; the scope marked active, its object written if it was not."""
        if self._objects is None:
            raise OverviewBucketNotConfigured("no overview bucket is configured (CLASSTOP_OVERVIEW_BUCKET)")
        now = self._clock()
        expires = int(now) + LINK_S
        scope = scope_of(principal)
        if len(scope) > MAX_SCOPE_CHARS or not _SCOPE_RE.fullmatch(scope):
            return FeedLink(None, SITES_SCOPE, expires, expires - REFRESH_BEFORE_S)
        key = scope_key(scope)
        entry = self._scopes.read().get(key)
        if entry is None or entry.active_until < now + LINK_S:
            self._scopes.activate(key, scope, now + ACTIVE_S)
        if entry is None or not entry.digest or entry.active_until < now:  # new or lapsed: no current object
            self._write(key, ScopeEntry(scope, now + ACTIVE_S), now, force=True)
        url = self._objects.presign_get(object_key(key), LINK_S)
        return FeedLink(url, scope, expires, expires - REFRESH_BEFORE_S)

    def refresh(self) -> FeedPass:
        """The minute's pass: each active scope's object written where its overview changed; lapsed ones dropped."""
        if self._objects is None:
            return FeedPass()
        now = self._clock()
        entries = self._scopes.read()
        written = dropped = failed = 0
        for key, entry in sorted(entries.items()):
            if entry.active_until < now:
                dropped += self._scopes.drop(key, entry.active_until)
                continue
            try:
                written += self._write(key, entry, now, force=False)
            except CloudError as exc:  # the next pass tries again; the other scopes go on
                failed += 1
                log.warning("overview object of one scope not written: %s", exc)
        return FeedPass(len(entries), written, dropped, failed)

    def _write(self, key: str, entry: ScopeEntry, now: float, *, force: bool) -> bool:
        assert self._objects is not None
        body, digest = render(self._overview.overview(principal_of(entry.scope)))
        if not force and digest == entry.digest and now - entry.written_at < REWRITE_S:
            return False
        self._objects.put(object_key(key), body, cache_control=CACHE_CONTROL)
        self._scopes.written(key, digest, now)
        return True
