"""Signing in to the dashboard with an account of the tenant's user pool, and turning its tokens into a caller.

The API relays the app client's flows (USER_PASSWORD_AUTH, the NEW_PASSWORD_REQUIRED and SOFTWARE_TOKEN_MFA
challenges, REFRESH_TOKEN_AUTH, the forgotten-password code) so the browser talks to one origin only. A wrong
password and an unknown e-mail answer the same 401; a forgotten-password request answers the same for both.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from chalicelib.adapters.user_pool import UserPool
from chalicelib.domain.token import Principal
from chalicelib.domain.user import Challenge, SignInStep, decode_sites, role_of
from chalicelib.errors import BadRequest, Forbidden, NotFound, Unauthorized, Unprocessable
from chalicelib.services.pool_tokens import PoolTokenVerifier

log = logging.getLogger(__name__)

WRONG_CREDENTIALS = "wrong e-mail or password"
#: how long the account behind an access token (its sites, whether it is enabled) is remembered
ACCOUNT_CACHE_S = 60.0


class SignInService:
    def __init__(self, pool: UserPool) -> None:
        self._pool = pool

    def sign_in(self, email: str, password: str) -> SignInStep:
        try:
            return self._pool.sign_in(email.strip().lower(), password)
        except (Unauthorized, NotFound):
            raise Unauthorized(WRONG_CREDENTIALS) from None

    def answer(self, email: str, challenge: Challenge, session: str, *, new_password: str | None = None,
               code: str | None = None) -> SignInStep:
        email = email.strip().lower()
        if challenge is Challenge.NEW_PASSWORD_REQUIRED:
            if not new_password:
                raise BadRequest("new_password: required for NEW_PASSWORD_REQUIRED")
            responses = {"USERNAME": email, "NEW_PASSWORD": new_password}
        else:
            if not code:
                raise BadRequest("code: required for SOFTWARE_TOKEN_MFA")
            responses = {"USERNAME": email, "SOFTWARE_TOKEN_MFA_CODE": code}
        try:
            return self._pool.respond(challenge, session, responses)
        except (Unauthorized, NotFound):
            raise Unauthorized("the sign-in session expired or does not match: sign in again") from None

    def refresh(self, refresh_token: str) -> SignInStep:
        try:
            return self._pool.refresh(refresh_token)
        except (Unauthorized, NotFound):
            raise Unauthorized("the session ended: sign in again") from None

    def forgot(self, email: str) -> None:
        try:
            self._pool.forgot_password(email.strip().lower())
        except (NotFound, Unauthorized):  # the same answer for an unknown account: nothing to learn here
            log.info("password reset asked for an unknown or disabled account")

    def reset(self, email: str, code: str, new_password: str) -> None:
        try:
            self._pool.confirm_forgot_password(email.strip().lower(), code, new_password)
        except (NotFound, Unauthorized):
            raise Unprocessable("code: invalid or expired") from None

    def mfa_secret(self, access_token: str) -> str:
        return self._pool.associate_software_token(access_token)

    def mfa_verify(self, access_token: str, code: str) -> None:
        self._pool.verify_software_token(access_token, code)


class PoolPrincipals:
    """The caller behind a pool token: role from ``cognito:groups``, sites from ``custom:sites`` (an ID token
    carries it; for an access token, which does not, the account is read, and remembered :data:`ACCOUNT_CACHE_S`)."""

    def __init__(self, verifier: PoolTokenVerifier, pool: UserPool,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._verifier = verifier
        self._pool = pool
        self._monotonic = monotonic
        self._accounts: dict[str, tuple[float, str, frozenset[str] | None, bool]] = {}
        self._lock = threading.Lock()

    def principal(self, token: str) -> Principal:
        claims = self._verifier.verify(token)
        role = role_of(claims.groups)
        if claims.token_use == "id":
            email = claims.email or claims.username
            sites = decode_sites(claims.sites)
        else:
            email, sites, enabled = self._account(claims.username)
            if not enabled:
                raise Unauthorized("account disabled")
        if role is None:
            raise Forbidden(f"account {email} has no role: ask an administrator")
        return Principal(name=email, role=role, site_ids=sites, email=email, auth="cognito")

    def _account(self, username: str) -> tuple[str, frozenset[str] | None, bool]:
        now = self._monotonic()
        with self._lock:
            cached = self._accounts.get(username)
        if cached is not None and cached[0] > now:
            return cached[1], cached[2], cached[3]
        try:
            user = self._pool.user(username)
        except NotFound:
            raise Unauthorized("unknown account") from None
        with self._lock:
            if len(self._accounts) > 1000:
                self._accounts.clear()
            self._accounts[username] = (now + ACCOUNT_CACHE_S, user.email, user.site_ids, user.enabled)
        return user.email, user.site_ids, user.enabled
