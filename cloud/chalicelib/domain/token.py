"""API tokens, roles and the authenticated caller."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from chalicelib.errors import Forbidden


class Role(StrEnum):
    """``viewer`` reads; ``operator`` also sends commands (except admin-only ones); ``admin`` does all."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def includes(self, other: Role) -> bool:
        return self.rank >= other.rank


_RANKS = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}

#: lifetime of an API token when its creator names none (90 days)
DEFAULT_TOKEN_TTL_S = 90 * 24 * 3600
#: the longest lifetime an API token may have (365 days): a forgotten token stops working within a year
MAX_TOKEN_TTL_S = 365 * 24 * 3600
#: the shortest lifetime an API token may be given
MIN_TOKEN_TTL_S = 60


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A stored token: only the SHA-256 of the secret is kept. ``token_id`` names it in lists, revocations and
    the audit log; it is random, not derived from the secret."""

    token_hash: str
    token_id: str
    name: str
    role: Role
    #: the sites the token may see and control; ``None`` = every site of the tenant.
    site_ids: frozenset[str] | None
    created_at: float
    expires_at: float
    created_by: str | None = None

    def expired(self, now: float) -> bool:
        return now >= self.expires_at

    def to_dict(self) -> dict[str, Any]:
        """What lists and audit show of a token: never its secret or its hash."""
        return {
            "token_id": self.token_id,
            "name": self.name,
            "role": self.role.value,
            "site_ids": sorted(self.site_ids) if self.site_ids is not None else None,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "expires_at": self.expires_at,
        }


class SecretKind(StrEnum):
    """What a stored secret is: an admin API token, a site's API key, or a one-time enrolment token."""

    API = "api"
    LMS = "lms"
    ENROLMENT = "enrolment"


@dataclass(frozen=True, slots=True)
class StoredSecret:
    """A site API key or an enrolment token (only the SHA-256 of the secret is kept)."""

    token_hash: str
    kind: SecretKind
    name: str
    site_id: str | None
    created_at: float
    expires_at: float | None = None
    created_by: str | None = None


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token as created: ``secret`` is shown once and never stored."""

    secret: str
    token: ApiToken


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of a request."""

    name: str
    role: Role
    site_ids: frozenset[str] | None = None
    #: the account's e-mail (a user pool account; ``None`` for an API token)
    email: str | None = None
    #: how the caller proved who it is: ``token`` (an API token) or ``cognito`` (a user pool's ID or access token)
    auth: str = "token"

    def to_dict(self) -> dict[str, Any]:
        """``GET /api/me``."""
        return {"name": self.name, "email": self.email, "role": self.role.value,
                "sites": None if self.site_ids is None else sorted(self.site_ids), "auth": self.auth}

    def require(self, role: Role, action: str = "this") -> None:
        if not self.role.includes(role):
            raise Forbidden(f"role {self.role.value!r} may not do {action}: needs {role.value!r}")

    def can_see_site(self, site_id: str | None) -> bool:
        return self.site_ids is None or (site_id is not None and site_id in self.site_ids)

    def require_sites(self, site_ids: set[str] | frozenset[str]) -> None:
        if self.site_ids is None:
            return
        outside = sorted(set(site_ids) - self.site_ids)
        if outside:
            raise Forbidden(f"token {self.name!r} is not scoped to site(s) {', '.join(outside)}")

    def require_unscoped(self, action: str = "this") -> None:
        """A tenant-wide act (tokens, the audit log, ClassTop clients, enrolment for no particular site) needs a
        token for every site of the tenant."""
        if self.site_ids is not None:
            raise Forbidden(f"token {self.name!r} is limited to site(s) {', '.join(sorted(self.site_ids))}: "
                            f"{action} is tenant-wide and needs a token for every site")

    def require_named_site(self, site_id: str | None, action: str = "this") -> None:
        """An act for the site named in a request (``Scope.NAMED``): one of the token's sites, or, naming none (an
        act any site may use), a token for every site."""
        if site_id is None:
            self.require_unscoped(action)
        else:
            self.require_sites({site_id})
