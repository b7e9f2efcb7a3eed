"""The user pool's tokens: every forged, stale or foreign token is a 401 (chalicelib/services/pool_tokens.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from chalicelib.domain.token import Role
from chalicelib.errors import Forbidden, Unauthorized
from chalicelib.services.pool_tokens import REFETCH_INTERVAL_S, PoolTokenVerifier, pool_issuer

POOL = "us-east-1_TenantA"
OTHER_POOL = "us-east-1_TenantB"
CLIENT = "clientA"
NOW = 1_700_000_000.0
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})
ROTATED = RSAKey.generate_key(2048, parameters={"kid": "k2"})


class Jwks:
    """The pool's JWKS endpoint: which keys it serves, and how often it was asked."""

    def __init__(self, *keys: RSAKey) -> None:
        self.keys = list(keys)
        self.calls = 0

    def __call__(self, url: str) -> dict[str, Any]:
        assert url == "https://jwks.test/keys"
        self.calls += 1
        return {"keys": [k.as_dict(private=False) for k in self.keys]}


class Clock:
    def __init__(self) -> None:
        self.now = NOW
        self.mono = 1000.0


def claims(use: str = "id", /, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"iss": pool_issuer(POOL), "sub": "u-1", "token_use": use, "iat": int(NOW) - 10,
                            "exp": int(NOW) + 3600, "cognito:groups": ["operator"]}
    if use == "id":
        base.update({"aud": CLIENT, "email": "op@school.test", "cognito:username": "u-1", "custom:sites": "s1,s2"})
    else:
        base.update({"client_id": CLIENT, "username": "u-1"})
    base.update(overrides)
    return base


def sign(payload: dict[str, Any], key: RSAKey = KEY, kid: str | None = None) -> str:
    return jwt.encode({"alg": "RS256", "kid": kid or str(key.kid)}, payload, key)


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.fixture
def env() -> tuple[PoolTokenVerifier, Jwks, Clock]:
    jwks, clock = Jwks(KEY), Clock()
    verifier = PoolTokenVerifier(POOL, CLIENT, "https://jwks.test/keys", fetch=jwks, clock=lambda: clock.now,
                                 monotonic=lambda: clock.mono)
    return verifier, jwks, clock


def test_a_valid_id_token_gives_groups_sites_and_email(env: tuple[PoolTokenVerifier, Jwks, Clock]) -> None:
    verifier, jwks, _ = env
    got = verifier.verify(sign(claims()))
    assert (got.email, got.groups, got.sites, got.token_use) == ("op@school.test", ("operator",), "s1,s2", "id")
    verifier.verify(sign(claims("access")))
    assert jwks.calls == 1  # fetched once, then cached


@pytest.mark.parametrize("case", ["expired", "wrong_issuer", "other_tenant_pool", "wrong_audience",
                                  "access_wrong_client", "no_token_use", "refresh_use", "future_iat", "no_exp",
                                  "groups_not_list"])
def test_bad_claims_are_refused(env: tuple[PoolTokenVerifier, Jwks, Clock], case: str) -> None:
    verifier, _, _ = env
    payload = {
        "expired": claims(exp=int(NOW) - 31),
        "wrong_issuer": claims(iss="https://evil.test/us-east-1_TenantA"),
        # signed with the very same key (moto's pools share one), but issued by another tenant's pool
        "other_tenant_pool": claims(iss=pool_issuer(OTHER_POOL)),
        "wrong_audience": claims(aud="another-client"),
        "access_wrong_client": claims("access", client_id="another-client"),
        "no_token_use": {k: v for k, v in claims().items() if k != "token_use"},
        "refresh_use": claims(token_use="refresh"),
        "future_iat": claims(iat=int(NOW) + 600),
        "no_exp": {k: v for k, v in claims().items() if k != "exp"},
        "groups_not_list": claims(**{"cognito:groups": "admin"}),
    }[case]
    with pytest.raises(Unauthorized):
        verifier.verify(sign(payload))


def test_a_tampered_payload_is_refused(env: tuple[PoolTokenVerifier, Jwks, Clock]) -> None:
    verifier, _, _ = env
    header, _, signature = sign(claims()).split(".")
    forged = b64(claims(**{"cognito:groups": ["admin"], "custom:sites": "*"}))
    with pytest.raises(Unauthorized):
        verifier.verify(f"{header}.{forged}.{signature}")


def test_alg_none_and_hs256_with_the_public_key_are_refused(env: tuple[PoolTokenVerifier, Jwks, Clock]) -> None:
    verifier, jwks, _ = env
    unsigned = f"{b64({'alg': 'none', 'kid': 'k1'})}.{b64(claims())}."
    with pytest.raises(Unauthorized):
        verifier.verify(unsigned)
    # the classic confusion: HMAC keyed with the RSA public key's text
    signing_input = f"{b64({'alg': 'HS256', 'kid': 'k1'})}.{b64(claims())}"
    mac = hmac.new(KEY.as_pem(private=False), signing_input.encode(), hashlib.sha256).digest()
    hs = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    with pytest.raises(Unauthorized):
        verifier.verify(hs)
    assert jwks.calls == 0  # refused before any key was fetched


def test_a_token_signed_by_another_key_with_a_known_kid_is_refused(env: tuple[PoolTokenVerifier, Jwks, Clock]) -> None:
    verifier, _, _ = env
    with pytest.raises(Unauthorized):
        verifier.verify(sign(claims(), key=ROTATED, kid="k1"))


def test_an_unknown_kid_refetches_at_most_once_per_interval(env: tuple[PoolTokenVerifier, Jwks, Clock]) -> None:
    verifier, jwks, clock = env
    verifier.verify(sign(claims()))
    for _ in range(50):  # a flood of made-up kids
        with pytest.raises(Unauthorized):
            verifier.verify(sign(claims(), key=ROTATED, kid="nope"))
    assert jwks.calls == 1  # the first fetch was just now: no refetch within the interval
    jwks.keys.append(ROTATED)  # the pool rotates its keys
    with pytest.raises(Unauthorized):
        verifier.verify(sign(claims(), key=ROTATED))
    clock.mono += REFETCH_INTERVAL_S
    assert verifier.verify(sign(claims(), key=ROTATED)).subject == "u-1"
    assert jwks.calls == 2


@pytest.mark.parametrize("token", ["eyJ.x.y", "eyJhbGciOiJSUzI1NiJ9..", "a" * 9000, "eyJ" + "A" * 20 + ".b.c"])
def test_garbage_is_refused(env: tuple[PoolTokenVerifier, Jwks, Clock], token: str) -> None:
    verifier, _, _ = env
    with pytest.raises(Unauthorized):
        verifier.verify(token)


class _NoPool:
    def user(self, username: str) -> Any:  # an ID token never needs the account
        raise AssertionError("no lookup expected")


def test_principal_from_an_id_token_and_a_token_without_a_role(env: tuple[PoolTokenVerifier, Jwks, Clock]) -> None:
    from chalicelib.services.sign_in import PoolPrincipals

    verifier, _, _ = env
    principals = PoolPrincipals(verifier, _NoPool())  # type: ignore[arg-type]
    caller = principals.principal(sign(claims()))
    assert (caller.name, caller.role, caller.site_ids, caller.auth) == (
        "op@school.test", Role.OPERATOR, frozenset({"s1", "s2"}), "cognito")
    admin = principals.principal(sign(claims(**{"cognito:groups": ["viewer", "admin"], "custom:sites": "*"})))
    assert (admin.role, admin.site_ids) == (Role.ADMIN, None)
    with pytest.raises(Forbidden):
        principals.principal(sign(claims(**{"cognito:groups": ["teachers"]})))
