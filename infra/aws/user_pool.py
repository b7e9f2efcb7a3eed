"""The tenant's Cognito user pool: the dashboard's accounts (docs/security.md#dashboard-accounts).

* sign-in by e-mail (the e-mail is the user name), accounts created by admins only (``AdminCreateUser``: a
  temporary password by e-mail, changed at the first sign-in), password reset by an e-mailed code;
* optional TOTP MFA (an authenticator app; no SMS);
* groups ``admin``/``operator``/``viewer`` (the role) and the custom attribute ``custom:sites`` (the sites an
  account may see: comma-separated ids, ``*`` for every site), which only admins change: the app client may write
  no attribute, so a user cannot widen their own sites with their access token;
* one app client without secret (the API relays ``USER_PASSWORD_AUTH`` and ``REFRESH_TOKEN_AUTH``; SRP is not
  needed as the password travels over TLS to our own origin), user-existence errors hidden, token revocation on,
  short-lived ID and access tokens (:data:`TOKEN_VALIDITY`).

The local twin creates the same pool in moto from these constants (``infra/local/user_pool.py``).
"""

from __future__ import annotations

from typing import Any

from infra.aws.cfn import Json, get_att, name_sub, ref, sub

USER_POOL = "UserPool"
USER_POOL_CLIENT = "UserPoolClient"
PASSWORD_POLICY: dict[str, Any] = {
    "MinimumLength": 12, "RequireLowercase": True, "RequireUppercase": True, "RequireNumbers": True,
    "RequireSymbols": True, "TemporaryPasswordValidityDays": 7,
}
SITES_ATTRIBUTE_SCHEMA: dict[str, Any] = {
    "Name": "sites", "AttributeDataType": "String", "Mutable": True,
    "StringAttributeConstraints": {"MinLength": "1", "MaxLength": "2048"},
}
ROLE_GROUPS = {
    "admin": "Everything: accounts, API tokens, sites, exec commands",
    "operator": "Commands and settings on their sites",
    "viewer": "Reads their sites",
}
APP_CLIENT_FLOWS = ("ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH")
APP_CLIENT_READ_ATTRIBUTES = ("email", "email_verified", "custom:sites")
#: what a user may change on their own account with their access token: nothing that grants anything
APP_CLIENT_WRITE_ATTRIBUTES = ("name",)
#: ID and access tokens live 15 minutes (a disabled account's last token dies with it); the session 12 hours
TOKEN_VALIDITY: dict[str, Any] = {
    "AccessTokenValidity": 15, "IdTokenValidity": 15, "RefreshTokenValidity": 12,
    "TokenValidityUnits": {"AccessToken": "minutes", "IdToken": "minutes", "RefreshToken": "hours"},
}


def resources() -> Json:
    pool: Json = {
        "Type": "AWS::Cognito::UserPool",
        "Properties": {
            "UserPoolName": name_sub("users"),
            "UsernameAttributes": ["email"],
            "UsernameConfiguration": {"CaseSensitive": False},
            "AutoVerifiedAttributes": ["email"],
            "AdminCreateUserConfig": {
                "AllowAdminCreateUserOnly": True,
                "InviteMessageTemplate": {
                    "EmailSubject": sub("ClassTop Fleet (${TenantId}): your account"),
                    "EmailMessage": "Your ClassTop Fleet account is {username}; temporary password: {####} "
                                    "(you choose your own at the first sign-in).",
                },
            },
            "AccountRecoverySetting": {"RecoveryMechanisms": [{"Name": "verified_email", "Priority": 1}]},
            "MfaConfiguration": "OPTIONAL",
            "EnabledMfas": ["SOFTWARE_TOKEN_MFA"],
            "Policies": {"PasswordPolicy": PASSWORD_POLICY},
            "Schema": [SITES_ATTRIBUTE_SCHEMA],
            "UserPoolTags": {"classtop:tenant": ref("TenantId"), "classtop:stage": ref("Stage")},
        },
    }
    client: Json = {
        "Type": "AWS::Cognito::UserPoolClient",
        "Properties": {
            "UserPoolId": ref(USER_POOL),
            "ClientName": name_sub("dashboard"),
            "GenerateSecret": False,
            "ExplicitAuthFlows": list(APP_CLIENT_FLOWS),
            "ReadAttributes": list(APP_CLIENT_READ_ATTRIBUTES),
            "WriteAttributes": list(APP_CLIENT_WRITE_ATTRIBUTES),
            "PreventUserExistenceErrors": "ENABLED",
            "EnableTokenRevocation": True,
            **TOKEN_VALIDITY,
        },
    }
    out: Json = {USER_POOL: pool, USER_POOL_CLIENT: client}
    for group, description in ROLE_GROUPS.items():
        out[f"UserPool{group.capitalize()}Group"] = {
            "Type": "AWS::Cognito::UserPoolGroup",
            "Properties": {"UserPoolId": ref(USER_POOL), "GroupName": group, "Description": description},
        }
    return out


def environment() -> Json:
    """What the functions read (``chalicelib.config.Settings``)."""
    return {"CLASSTOP_USER_POOL_ID": ref(USER_POOL), "CLASSTOP_USER_POOL_CLIENT_ID": ref(USER_POOL_CLIENT)}


def pool_arn() -> Json:
    return get_att(USER_POOL, "Arn")


#: what the API does to accounts (the sign-in flows are the app client's public calls: no IAM needed)
ADMIN_ACTIONS = (
    "cognito-idp:AdminAddUserToGroup", "cognito-idp:AdminCreateUser", "cognito-idp:AdminDeleteUser",
    "cognito-idp:AdminDisableUser", "cognito-idp:AdminEnableUser", "cognito-idp:AdminGetUser",
    "cognito-idp:AdminListGroupsForUser", "cognito-idp:AdminRemoveUserFromGroup",
    "cognito-idp:AdminUpdateUserAttributes", "cognito-idp:AdminUserGlobalSignOut", "cognito-idp:ListUsers",
    "cognito-idp:ListUsersInGroup",
)
