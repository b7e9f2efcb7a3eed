"""The request bodies of the routes of ``chalicelib/api/auth.py``: imported when one of them is first
called or the OpenAPI document is built (``api/routes.py``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from chalicelib.api.bodies.request_body import RequestBody
from chalicelib.domain.user import EMAIL_PATTERN

#: a password as the pool takes it: at least one character that is not a space (the pool's own policy decides
#: whether it is strong enough: 422 if not)
Password = Field(min_length=1, max_length=256, pattern=r"\S")
#: an e-mail address as an account's name: what the pool's accounts are invited with (anything else is a 400 here
#: rather than a request the pool fails on)
Email = Field(min_length=3, max_length=254, pattern=EMAIL_PATTERN)
#: Cognito's refresh and access tokens are opaque; these bounds only stop abuse
Opaque = Field(min_length=1, max_length=8192)
#: a challenge's session is opaque too, but the pool takes only 20-4096 characters (shorter or longer is not one of
#: its sessions: a 400 here, not a failed call to the pool)
Session = Field(min_length=20, max_length=4096)


class SignInBody(RequestBody):
    """``POST /api/auth/sign-in``."""

    email: str = Email
    password: str = Password


class ChallengeBody(RequestBody):
    """``POST /api/auth/challenge``: ``new_password`` for NEW_PASSWORD_REQUIRED, ``code`` (6 digits from the
    authenticator app) for SOFTWARE_TOKEN_MFA."""

    email: str = Email
    challenge: Literal["NEW_PASSWORD_REQUIRED", "SOFTWARE_TOKEN_MFA"]
    session: str = Session
    new_password: str | None = Field(default=None, min_length=1, max_length=256, pattern=r"\S")
    code: str | None = Field(default=None, pattern=r"^\d{6}$")

    @classmethod
    def openapi_extra(cls) -> dict[str, Any]:
        """Each challenge's answer, as the sign-in service checks it (400 without it)."""
        return {
            "oneOf": [
                {"properties": {"challenge": {"const": challenge}, answer: {"type": "string"}}, "required": [answer]}
                for challenge, answer in (("NEW_PASSWORD_REQUIRED", "new_password"), ("SOFTWARE_TOKEN_MFA", "code"))
            ]
        }


class RefreshBody(RequestBody):
    """``POST /api/auth/refresh``."""

    refresh_token: str = Opaque


class ForgotBody(RequestBody):
    """``POST /api/auth/forgot``: sends a reset code to the account's e-mail (if there is such an account)."""

    email: str = Email


class ResetBody(RequestBody):
    """``POST /api/auth/reset``: the code from the e-mail and the new password."""

    email: str = Email
    code: str = Field(min_length=1, max_length=16, pattern=r"^[0-9A-Za-z]+$")
    new_password: str = Password


class MfaSetupBody(RequestBody):
    """``POST /api/auth/mfa/setup``: the signed-in account's access token (the pool checks it)."""

    access_token: str = Opaque


class MfaVerifyBody(RequestBody):
    """``POST /api/auth/mfa/verify``: the access token and the authenticator app's first code."""

    access_token: str = Opaque
    code: str = Field(pattern=r"^\d{6}$")
