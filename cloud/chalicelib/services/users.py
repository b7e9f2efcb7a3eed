"""Accounts of the tenant's user pool, administered by admins (from the dashboard's API and the CLI).

An account's name is its e-mail; its role is one of the pool's groups (``admin``/``operator``/``viewer``) and its
sites the ``custom:sites`` attribute (``*``: every site). Invited accounts get a temporary password by e-mail
(Cognito sends it) and must change it at their first sign-in. Only where ``reveal_passwords`` is set (the local
twin, which sends no mail: ``Settings.reveal_temporary_passwords``) does the invitation answer the password.
An admin cannot disable, delete or demote their own account (nobody locks the tenant out by a slip).
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterable

from chalicelib.adapters.user_pool import UserPool
from chalicelib.domain.token import Principal, Role
from chalicelib.domain.user import MAX_USER_SITES, Invitation, PoolUser, encode_sites, valid_email
from chalicelib.errors import BadRequest, Conflict
from shared.topics import is_valid_id

_SYMBOLS = "!#%+-=?@^_"


def temporary_password() -> str:
    """16 characters with every class the pool's policy asks for (upper, lower, digit, symbol)."""
    alphabet = string.ascii_letters + string.digits + _SYMBOLS
    core = [secrets.choice(alphabet) for _ in range(12)]
    core += [secrets.choice(string.ascii_uppercase), secrets.choice(string.ascii_lowercase),
             secrets.choice(string.digits), secrets.choice(_SYMBOLS)]
    secrets.SystemRandom().shuffle(core)
    return "".join(core)


def check_email(email: str) -> str:
    email = email.strip().lower()
    if not valid_email(email):
        raise BadRequest("email: not an e-mail address")
    return email


def check_sites(site_ids: Iterable[str] | None) -> frozenset[str] | None:
    if site_ids is None:
        return None
    scope = frozenset(site_ids)
    if not scope:
        raise BadRequest("sites: give at least one site, or null for every site")
    if len(scope) > MAX_USER_SITES:
        raise BadRequest(f"sites: at most {MAX_USER_SITES}")
    bad = sorted(s for s in scope if not is_valid_id(s))
    if bad:
        raise BadRequest(f"sites: invalid site id(s) {', '.join(bad)[:200]}")
    return scope


class UserService:
    def __init__(self, pool: UserPool, *, reveal_passwords: bool = False) -> None:
        self._pool = pool
        self._reveal = reveal_passwords

    def list(self) -> list[PoolUser]:
        return sorted(self._pool.users(), key=lambda u: u.email)

    def get(self, email: str) -> PoolUser:
        return self._pool.user(check_email(email))

    def invite(self, email: str, role: Role | str, site_ids: Iterable[str] | None = None) -> Invitation:
        email = check_email(email)
        role = _role(role)
        scope = check_sites(site_ids)
        password = temporary_password() if self._reveal else None
        self._pool.create_user(email, encode_sites(scope), password)
        self._pool.set_role(email, role.value, [])
        return Invitation(self._pool.user(email), password)

    def update(self, email: str, by: Principal | None, *, role: Role | str | None = None,
               site_ids: Iterable[str] | None = None, set_sites: bool = False,
               enabled: bool | None = None) -> PoolUser:
        """Change an account's role, sites (``set_sites``: ``site_ids``, ``None`` for every site) or state."""
        email = check_email(email)
        current = self._pool.user(email)
        new_role = None if role is None else _role(role)
        if _is_self(by, email) and (enabled is False or (new_role is not None and new_role is not Role.ADMIN)):
            raise Conflict("you cannot disable or demote your own account")
        if new_role is not None and new_role is not current.role:
            self._pool.set_role(email, new_role.value, [] if current.role is None else [current.role.value])
        if set_sites:
            self._pool.set_sites(email, encode_sites(check_sites(site_ids)))
        if enabled is not None and enabled is not current.enabled:
            self._pool.set_enabled(email, enabled)
        return self._pool.user(email)

    def delete(self, email: str, by: Principal | None) -> PoolUser:
        email = check_email(email)
        if _is_self(by, email):
            raise Conflict("you cannot delete your own account")
        user = self._pool.user(email)
        self._pool.sign_out(email)
        self._pool.delete_user(email)
        return user


def _is_self(by: Principal | None, email: str) -> bool:
    return by is not None and by.email is not None and by.email.lower() == email


def _role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise BadRequest(f"role: must be one of {', '.join(r.value for r in Role)}") from None
