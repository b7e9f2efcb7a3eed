"""The tenant's Cognito user pool (``cognito-idp``): sign-in flows for the dashboard and account administration.

Every ``ClientError`` is translated here: wrong credentials and unknown users are :class:`Unauthorized` or
:class:`NotFound` (the services decide what a caller may learn), a bad parameter :class:`BadRequest`, a wrong or
expired code or a password the pool's policy refuses :class:`Unprocessable` (422), an existing account
:class:`Conflict`, throttling :class:`TooManyRequests`, anything else :class:`UpstreamError`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from chalicelib.adapters.aws import AwsAdapter, describe, error_code
from chalicelib.domain.user import (
    SITES_ATTRIBUTE,
    Challenge,
    PendingChallenge,
    PoolUser,
    SessionTokens,
    SignInStep,
    decode_sites,
    role_of,
)
from chalicelib.errors import (
    BadRequest,
    CloudError,
    Conflict,
    NotFound,
    TooManyRequests,
    Unauthorized,
    Unprocessable,
    UpstreamError,
)

_UNAUTHORIZED = {"NotAuthorizedException", "UserNotConfirmedException", "PasswordResetRequiredException"}
_NOT_FOUND = {"UserNotFoundException", "ResourceNotFoundException"}
_BAD = {"InvalidParameterException"}
#: well-formed, but refused by the pool: a wrong or expired code, a password its policy refuses (422)
_REFUSED = {"InvalidPasswordException", "CodeMismatchException", "ExpiredCodeException",
            "EnableSoftwareTokenMFAException"}
_THROTTLED = {"TooManyRequestsException", "LimitExceededException", "TooManyFailedAttemptsException"}
_ROLE_GROUPS = ("admin", "operator", "viewer")


def translate(exc: Exception) -> CloudError:
    if isinstance(exc, ParamValidationError):  # a value out of the pool API's bounds (never echoed: it may be secret)
        return BadRequest("user pool: a value is out of the bounds the pool takes")
    code = error_code(exc) or ""
    message = describe(exc)
    if code in _UNAUTHORIZED:
        return Unauthorized(message)
    if code in _NOT_FOUND:
        return NotFound(message)
    if code in _BAD:
        return BadRequest(message)
    if code in _REFUSED:
        return Unprocessable(message)
    if code == "UsernameExistsException":
        return Conflict(message)
    if code in _THROTTLED:
        return TooManyRequests(message, details={"retry_after_s": 30})
    return UpstreamError(f"user pool: {message}")


class UserPool(AwsAdapter[Any]):
    """One pool and its app client (no secret: USER_PASSWORD_AUTH and REFRESH_TOKEN_AUTH)."""

    SERVICE = "cognito-idp"

    def __init__(self, pool_id: str, client_id: str, client: Any | None = None, *, endpoint_url: str | None = None,
                 region: str | None = None) -> None:
        super().__init__(client, endpoint_url=endpoint_url, region=region)
        self.pool_id = pool_id
        self.client_id = client_id

    def _call(self, operation: str, **params: Any) -> Any:
        try:
            return getattr(self.client, operation)(**params)
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc) from None

    # ------------------------------------------------------------ sign-in (the app client's flows)

    def sign_in(self, email: str, password: str) -> SignInStep:
        return _step(self._call("initiate_auth", ClientId=self.client_id, AuthFlow="USER_PASSWORD_AUTH",
                                AuthParameters={"USERNAME": email, "PASSWORD": password}))

    def respond(self, challenge: Challenge, session: str, responses: Mapping[str, str]) -> SignInStep:
        return _step(self._call("respond_to_auth_challenge", ClientId=self.client_id, ChallengeName=challenge.value,
                                Session=session, ChallengeResponses=dict(responses)))

    def refresh(self, refresh_token: str) -> SignInStep:
        return _step(self._call("initiate_auth", ClientId=self.client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                                AuthParameters={"REFRESH_TOKEN": refresh_token}), refresh_token=refresh_token)

    def forgot_password(self, email: str) -> None:
        self._call("forgot_password", ClientId=self.client_id, Username=email)

    def confirm_forgot_password(self, email: str, code: str, new_password: str) -> None:
        self._call("confirm_forgot_password", ClientId=self.client_id, Username=email, ConfirmationCode=code,
                   Password=new_password)

    def associate_software_token(self, access_token: str) -> str:
        return str(self._call("associate_software_token", AccessToken=access_token)["SecretCode"])

    def verify_software_token(self, access_token: str, code: str) -> None:
        answer = self._call("verify_software_token", AccessToken=access_token, UserCode=code,
                            FriendlyDeviceName="ClassTop Fleet")
        if answer.get("Status") != "SUCCESS":
            raise Unprocessable("code: the authenticator's code was not accepted")
        self._call("set_user_mfa_preference", AccessToken=access_token,
                   SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": True})

    # ------------------------------------------------------------ administration

    def users(self) -> Iterator[PoolUser]:
        roles: dict[str, list[str]] = {}
        for group in _ROLE_GROUPS:
            for entry in self._pages("list_users_in_group", "Users", GroupName=group):
                roles.setdefault(entry["Username"], []).append(group)
        for entry in self._pages("list_users", "Users"):
            yield _user(entry, entry.get("Attributes", []), roles.get(entry["Username"], []))

    def _pages(self, operation: str, key: str, **params: Any) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            extra = {"NextToken": token} if token else {}
            page = self._call(operation, UserPoolId=self.pool_id, **params, **extra)
            yield from page.get(key, [])
            token = page.get("NextToken") or page.get("PaginationToken")
            if not token:
                return

    def user(self, email: str) -> PoolUser:
        entry = self._call("admin_get_user", UserPoolId=self.pool_id, Username=email)
        groups = [g["GroupName"] for g in self._call("admin_list_groups_for_user", UserPoolId=self.pool_id,
                                                     Username=email).get("Groups", [])]
        return _user(entry, entry.get("UserAttributes", []), groups)

    def create_user(self, email: str, sites: str, temporary_password: str | None) -> None:
        params: dict[str, Any] = {
            "UserPoolId": self.pool_id, "Username": email,
            "UserAttributes": [{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"},
                               {"Name": SITES_ATTRIBUTE, "Value": sites}],
            "DesiredDeliveryMediums": ["EMAIL"],
        }
        if temporary_password is not None:
            params["TemporaryPassword"] = temporary_password
            params["MessageAction"] = "SUPPRESS"
        self._call("admin_create_user", **params)

    def set_role(self, email: str, role: str, current: list[str]) -> None:
        self._call("admin_add_user_to_group", UserPoolId=self.pool_id, Username=email, GroupName=role)
        for group in current:
            if group != role:
                self._call("admin_remove_user_from_group", UserPoolId=self.pool_id, Username=email, GroupName=group)

    def set_sites(self, email: str, sites: str) -> None:
        self._call("admin_update_user_attributes", UserPoolId=self.pool_id, Username=email,
                   UserAttributes=[{"Name": SITES_ATTRIBUTE, "Value": sites}])

    def set_enabled(self, email: str, enabled: bool) -> None:
        if enabled:
            self._call("admin_enable_user", UserPoolId=self.pool_id, Username=email)
        else:
            self._call("admin_disable_user", UserPoolId=self.pool_id, Username=email)
            self.sign_out(email)

    def sign_out(self, email: str) -> None:
        """Revoke the account's refresh tokens (its ID and access tokens run out within their validity)."""
        self._call("admin_user_global_sign_out", UserPoolId=self.pool_id, Username=email)

    def delete_user(self, email: str) -> None:
        self._call("admin_delete_user", UserPoolId=self.pool_id, Username=email)


def _step(answer: Mapping[str, Any], refresh_token: str | None = None) -> SignInStep:
    result = answer.get("AuthenticationResult")
    if result:
        return SessionTokens(access_token=result["AccessToken"], id_token=result["IdToken"],
                             refresh_token=result.get("RefreshToken") or refresh_token,
                             expires_in=int(result.get("ExpiresIn", 3600)))
    name = answer.get("ChallengeName")
    try:
        challenge = Challenge(str(name))
    except ValueError:
        raise UpstreamError(f"user pool: unsupported sign-in challenge {str(name)[:40]!r}") from None
    return PendingChallenge(challenge, str(answer.get("Session", "")))


def _user(entry: Mapping[str, Any], attributes: list[dict[str, str]], groups: list[str]) -> PoolUser:
    attrs = {a["Name"]: a.get("Value", "") for a in attributes}
    created: Any = entry.get("UserCreateDate")
    return PoolUser(
        email=attrs.get("email") or str(entry["Username"]),
        role=role_of(groups),
        site_ids=decode_sites(attrs.get(SITES_ATTRIBUTE)),
        enabled=bool(entry.get("Enabled", True)),
        status=str(entry.get("UserStatus", "")),
        created_at=created.timestamp() if hasattr(created, "timestamp") else None,
    )
