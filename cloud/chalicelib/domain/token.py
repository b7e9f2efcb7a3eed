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


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A stored token: only the SHA-256 of the secret is kept."""

    token_hash: str
    name: str
    role: Role
    #: the sites the token may see and control; ``None`` = every site of the tenant.
    site_ids: frozenset[str] | None
    created_at: float
    created_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role.value,
            "site_ids": sorted(self.site_ids) if self.site_ids is not None else None,
            "created_at": self.created_at,
            "created_by": self.created_by,
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
