"""Accounts of the tenant's user pool (people who sign in to the dashboard) and what signing in answers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from chalicelib.domain.token import Role

#: the custom attribute holding an account's sites (``custom:sites``): comma-separated site ids, or ``*`` for all
SITES_ATTRIBUTE = "custom:sites"
ALL_SITES = "*"
#: most sites one account may be limited to (the attribute holds at most 2,048 characters)
MAX_USER_SITES = 50
#: an e-mail address as every pool takes it (AWS's and the local twin's moto, which is the stricter): ASCII, the
#: local part starting with a letter, a digit or ``_`` (anything else is a 400 here rather than a call the pool
#: fails; the pool checks it again)
EMAIL_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9._%+-]{0,63}@[A-Za-z0-9.-]{1,190}\.[A-Za-z]{2,24}$"
_EMAIL_RE = re.compile(EMAIL_PATTERN)


def valid_email(value: str) -> bool:
    return len(value) <= 254 and _EMAIL_RE.match(value) is not None


def encode_sites(site_ids: frozenset[str] | None) -> str:
    return ALL_SITES if site_ids is None else ",".join(sorted(site_ids))


def decode_sites(raw: str | None) -> frozenset[str] | None:
    """``None`` (every site) for an absent attribute or ``*``; else the listed sites (an empty list: none)."""
    if raw is None or raw.strip() == ALL_SITES:
        return None
    return frozenset(s for s in (part.strip() for part in raw.split(",")) if s)


def role_of(groups: tuple[str, ...] | list[str]) -> Role | None:
    """The highest role among an account's groups (``None``: in no role group)."""
    roles = [Role(g) for g in groups if g in {r.value for r in Role}]
    return max(roles, key=lambda r: r.rank) if roles else None


class UserStatus(StrEnum):
    """Cognito's ``UserStatus`` values the dashboard shows (others are passed through as text)."""

    FORCE_CHANGE_PASSWORD = "FORCE_CHANGE_PASSWORD"
    CONFIRMED = "CONFIRMED"
    RESET_REQUIRED = "RESET_REQUIRED"


@dataclass(frozen=True, slots=True)
class PoolUser:
    """One account: its e-mail is its name everywhere (routes, audit, CLI)."""

    email: str
    role: Role | None
    site_ids: frozenset[str] | None
    enabled: bool
    status: str
    created_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "email": self.email,
            "role": None if self.role is None else self.role.value,
            "sites": None if self.site_ids is None else sorted(self.site_ids),
            "enabled": self.enabled,
            "status": self.status,
            "created_at": self.created_at,
        }


@dataclass(frozen=True, slots=True)
class Invitation:
    """A new account; ``temporary_password`` only where the stage reveals it (the local twin), else ``None``."""

    user: PoolUser
    temporary_password: str | None


class Challenge(StrEnum):
    """The sign-in challenges the dashboard answers."""

    NEW_PASSWORD_REQUIRED = "NEW_PASSWORD_REQUIRED"
    SOFTWARE_TOKEN_MFA = "SOFTWARE_TOKEN_MFA"


@dataclass(frozen=True, slots=True)
class SessionTokens:
    access_token: str
    id_token: str
    refresh_token: str | None
    expires_in: int

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"access_token": self.access_token, "id_token": self.id_token,
                               "expires_in": self.expires_in}
        if self.refresh_token is not None:
            out["refresh_token"] = self.refresh_token
        return out


@dataclass(frozen=True, slots=True)
class PendingChallenge:
    challenge: Challenge
    session: str

    def to_dict(self) -> dict[str, Any]:
        return {"challenge": self.challenge.value, "session": self.session}


SignInStep = SessionTokens | PendingChallenge
