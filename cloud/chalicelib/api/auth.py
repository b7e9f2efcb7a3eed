"""Signing in to the dashboard with an account of the tenant's user pool (no credentials: these routes are how
one gets them), and ``GET /api/me``. Sign-in and the challenge answer ``{access_token, id_token, refresh_token,
expires_in}`` or the next challenge ``{challenge, session}``; wrong credentials are a 401 with one message for an
unknown e-mail and a wrong password. See docs/api.md#accounts-and-sign-in."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice.app import Response

from chalicelib import container
from chalicelib.api.http import ok
from chalicelib.api.routes import Access, Call, Router, Scope
from chalicelib.domain.user import Challenge
from chalicelib.errors import NoUserPool

if TYPE_CHECKING:
    from chalicelib.api.bodies.auth import (
        ChallengeBody,
        ForgotBody,
        MfaSetupBody,
        MfaVerifyBody,
        RefreshBody,
        ResetBody,
        SignInBody,
    )
    from chalicelib.services.sign_in import SignInService

api = Router(__name__, tag="auth")

#: a well-formed answer the pool refuses (chalicelib.errors.Unprocessable)
_REFUSED = "the pool refused it: a wrong or expired code, or a new password its policy refuses"


def sign_in_service() -> SignInService:
    service = container.get().sign_in
    if service is None:
        raise NoUserPool("this stage has no user pool: sign in with an API token")
    return service


@api.route("POST", "/api/auth/sign-in", Access.PUBLIC, Scope.NONE,
           "Sign in with e-mail and password: tokens, or a challenge (new password, MFA code)", body="SignInBody",
           responses={"401": "wrong e-mail or password (one message for both)", "503": "no user pool"})
def sign_in(call: Call[SignInBody]) -> Response:
    return ok(sign_in_service().sign_in(call.body.email, call.body.password).to_dict())


@api.route("POST", "/api/auth/challenge", Access.PUBLIC, Scope.NONE,
           "Answer a sign-in challenge: tokens, or the next challenge", body="ChallengeBody",
           responses={"401": "the session expired or does not match", "422": _REFUSED, "503": "no user pool"})
def challenge(call: Call[ChallengeBody]) -> Response:
    body = call.body
    return ok(sign_in_service().answer(body.email, Challenge(body.challenge), body.session,
                                       new_password=body.new_password, code=body.code).to_dict())


@api.route("POST", "/api/auth/refresh", Access.PUBLIC, Scope.NONE, "New ID and access tokens for a refresh token",
           body="RefreshBody", responses={"401": "the session ended", "503": "no user pool"})
def refresh(call: Call[RefreshBody]) -> Response:
    return ok(sign_in_service().refresh(call.body.refresh_token).to_dict())


@api.route("POST", "/api/auth/forgot", Access.PUBLIC, Scope.NONE,
           "Send a password reset code by e-mail (the same answer for an unknown e-mail)", body="ForgotBody",
           responses={"202": "accepted", "503": "no user pool"})
def forgot(call: Call[ForgotBody]) -> Response:
    sign_in_service().forgot(call.body.email)
    return ok({"accepted": True}, 202)


@api.route("POST", "/api/auth/reset", Access.PUBLIC, Scope.NONE, "Set a new password with the e-mailed code",
           body="ResetBody", responses={"422": _REFUSED, "503": "no user pool"})
def reset(call: Call[ResetBody]) -> Response:
    body = call.body
    sign_in_service().reset(body.email, body.code, body.new_password)
    return ok({"reset": True})


@api.route("POST", "/api/auth/mfa/setup", Access.PUBLIC, Scope.NONE,
           "Start TOTP MFA for the signed-in account: the authenticator app's secret", body="MfaSetupBody",
           responses={"401": "the access token is not valid", "503": "no user pool"})
def mfa_setup(call: Call[MfaSetupBody]) -> Response:
    secret = sign_in_service().mfa_secret(call.body.access_token)
    return ok({"secret": secret})


@api.route("POST", "/api/auth/mfa/verify", Access.PUBLIC, Scope.NONE,
           "Finish TOTP MFA setup with the app's first code: sign-ins ask for a code from now on", body="MfaVerifyBody",
           responses={"401": "the access token is not valid", "422": _REFUSED, "503": "no user pool"})
def mfa_verify(call: Call[MfaVerifyBody]) -> Response:
    sign_in_service().mfa_verify(call.body.access_token, call.body.code)
    return ok({"mfa": True})


@api.route("GET", "/api/me", Access.VIEWER, Scope.LIST,
           "Who the caller is: name, e-mail, role, sites (null: every site), auth (cognito or token)")
def me(call: Call[None]) -> Response:
    return ok(call.principal.to_dict())
