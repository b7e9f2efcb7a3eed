"""Verifying the tokens of the tenant's Cognito user pool (ID and access tokens, JWTs signed RS256).

A token is accepted only if all of these hold, in this order (each failure is a 401 with one generic message, the
reason only in the log): three base64url parts; header ``alg`` exactly ``RS256`` (``none``, HS256 and every other
algorithm are refused before any key is looked at); a ``kid`` found in the pool's JWKS; a valid signature with
that key; ``iss`` exactly the pool's issuer (``https://cognito-idp.{region}.amazonaws.com/{pool_id}``: a token of
another tenant's pool fails here even where the pools share a key, as moto's do); ``token_use`` ``id`` (with ``aud``
= the app client) or ``access`` (with ``client_id`` = the app client); ``exp`` in the future and ``iat`` not in the
future (both with :data:`LEEWAY_S`).

The JWKS is fetched once and cached for the life of the process; a ``kid`` it does not hold makes one refetch (the
pool rotated its keys), at most once per :data:`REFETCH_INTERVAL_S`, so a flood of tokens with made-up ``kid``\\ s
costs one HTTP request per interval, not one per token.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.errors import Unauthorized, UpstreamError

if TYPE_CHECKING:  # joserfc (and cryptography) load with the first key set: a cold start without a JWT skips them
    from joserfc.jwk import RSAKey

log = logging.getLogger(__name__)

#: seconds of clock skew tolerated on ``exp`` and ``iat``
LEEWAY_S = 30
#: an unknown ``kid`` refetches the JWKS at most this often (seconds)
REFETCH_INTERVAL_S = 60.0
#: a longer bearer value is not a token of ours (Cognito's are ~1-2 KB)
MAX_JWT_CHARS = 8192
#: the one message of every refusal (the reason is logged, not told to the caller)
REFUSED = "invalid or expired sign-in token: sign in again"

JwksFetcher = Callable[[str], Mapping[str, Any]]


def pool_issuer(pool_id: str) -> str:
    """The ``iss`` of a pool's tokens: its region is the pool id's prefix (``us-east-1_AbC123``)."""
    region = pool_id.split("_", 1)[0]
    return f"https://cognito-idp.{region}.amazonaws.com/{pool_id}"


def looks_like_jwt(secret: str) -> bool:
    """Whether a bearer value has a JWT's shape (three dot-separated parts starting with a JSON header)."""
    return secret.startswith("eyJ") and secret.count(".") == 2


def fetch_jwks(url: str) -> Mapping[str, Any]:
    """GET the pool's JWKS (a few seconds at most: a Lambda has no minutes to wait)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            data = json.loads(response.read(256 * 1024))
    except (OSError, ValueError) as exc:
        raise UpstreamError(f"cannot read the user pool's keys: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise UpstreamError("the user pool's JWKS is not a key set")
    return data


@dataclass(frozen=True, slots=True)
class PoolClaims:
    """What a verified token says about its holder."""

    subject: str
    token_use: str
    #: the user's e-mail (ID tokens only)
    email: str | None
    #: the pool's user name (``cognito:username`` of an ID token, ``username`` of an access token)
    username: str
    groups: tuple[str, ...]
    #: the raw ``custom:sites`` attribute (ID tokens only; access tokens do not carry custom attributes)
    sites: str | None
    expires_at: float


class PoolTokenVerifier:
    """Verifies the ID and access tokens of one user pool and one app client (see the module docstring)."""

    def __init__(self, pool_id: str, client_id: str, jwks_url: str, *, fetch: JwksFetcher = fetch_jwks,
                 clock: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.issuer = pool_issuer(pool_id)
        self._client_id = client_id
        self._jwks_url = jwks_url
        self._fetch = fetch
        self._clock = clock
        self._monotonic = monotonic
        self._keys: dict[str, RSAKey] | None = None
        self._fetched_at = float("-inf")
        self._lock = threading.Lock()
        #: JWKS requests made (tests and metrics)
        self.fetches = 0

    def verify(self, token: str) -> PoolClaims:
        if len(token) > MAX_JWT_CHARS:
            raise self._refuse("token too long")
        header = _header(token)
        if header is None:
            raise self._refuse("not a JWT")
        if header.get("alg") != "RS256":
            raise self._refuse(f"algorithm {str(header.get('alg'))[:20]!r} refused")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise self._refuse("no kid")
        key = self._key(kid)
        if key is None:
            raise self._refuse(f"unknown kid {kid[:40]!r}")
        from joserfc import jwt
        from joserfc.errors import JoseError

        try:
            claims = dict(jwt.decode(token, key, algorithms=["RS256"]).claims)
        except (JoseError, ValueError) as exc:
            raise self._refuse(f"signature: {exc}") from None
        return self._check(claims)

    def _check(self, claims: dict[str, Any]) -> PoolClaims:
        if claims.get("iss") != self.issuer:
            raise self._refuse(f"issuer {str(claims.get('iss'))[:120]!r}")
        use = claims.get("token_use")
        if use == "id":
            audience = claims.get("aud")
        elif use == "access":
            audience = claims.get("client_id")
        else:
            raise self._refuse(f"token_use {str(use)[:20]!r}")
        if audience != self._client_id:
            raise self._refuse("audience is another app client")
        now = self._clock()
        exp, iat = claims.get("exp"), claims.get("iat")
        if not isinstance(exp, int | float) or isinstance(exp, bool) or exp + LEEWAY_S <= now:
            raise self._refuse("expired")
        if isinstance(iat, int | float) and not isinstance(iat, bool) and iat - LEEWAY_S > now:
            raise self._refuse("issued in the future")
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise self._refuse("no subject")
        groups = claims.get("cognito:groups") or []
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise self._refuse("cognito:groups is not a list of names")
        username = claims.get("cognito:username" if use == "id" else "username")
        email = claims.get("email") if use == "id" else None
        sites = claims.get("custom:sites") if use == "id" else None
        return PoolClaims(subject=subject, token_use=str(use), email=email if isinstance(email, str) else None,
                          username=username if isinstance(username, str) else subject, groups=tuple(groups),
                          sites=sites if isinstance(sites, str) else None, expires_at=float(exp))

    def _key(self, kid: str) -> RSAKey | None:
        with self._lock:
            if self._keys is None or (kid not in self._keys
                                      and self._monotonic() - self._fetched_at >= REFETCH_INTERVAL_S):
                self._load()
            assert self._keys is not None
            return self._keys.get(kid)

    def _load(self) -> None:
        self._fetched_at = self._monotonic()
        self.fetches += 1
        document = self._fetch(self._jwks_url)
        from joserfc.errors import JoseError
        from joserfc.jwk import RSAKey

        keys: dict[str, RSAKey] = {}
        for entry in document.get("keys", []):
            if not isinstance(entry, dict) or entry.get("kty") != "RSA" or not isinstance(entry.get("kid"), str):
                continue
            try:
                keys[entry["kid"]] = RSAKey.import_key(
                    {name: entry[name] for name in ("kty", "n", "e", "kid") if name in entry})
            except (JoseError, ValueError, KeyError) as exc:
                log.warning("user pool JWKS: key %s skipped: %s", entry.get("kid"), exc)
        self._keys = keys

    @staticmethod
    def _refuse(reason: str) -> Unauthorized:
        log.info("pool token refused: %s", reason)
        return Unauthorized(REFUSED)


def _header(token: str) -> dict[str, Any] | None:
    parts = token.split(".")
    if len(parts) != 3 or not all(parts[:2]):
        return None
    try:
        raw = parts[0] + "=" * (-len(parts[0]) % 4)
        header = json.loads(base64.urlsafe_b64decode(raw.encode("ascii")))
    except (ValueError, UnicodeError):
        return None
    return header if isinstance(header, dict) else None
