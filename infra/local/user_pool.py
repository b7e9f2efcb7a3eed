"""The tenant's Cognito user pool in the local twin: moto's cognito-idp, set up as the template sets it up in AWS
(``infra/aws/user_pool.py``: the same password policy, optional TOTP MFA, ``custom:sites``, the role groups and an
app client without secret whose users may write no attribute), and a demo admin who can sign in at once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infra.aws.user_pool import (
    APP_CLIENT_FLOWS,
    APP_CLIENT_READ_ATTRIBUTES,
    APP_CLIENT_WRITE_ATTRIBUTES,
    PASSWORD_POLICY,
    ROLE_GROUPS,
    SITES_ATTRIBUTE_SCHEMA,
    TOKEN_VALIDITY,
)
from shared.names import Namespace, resource_name

DEMO_ADMIN_EMAIL = "admin@classtop.test"


@dataclass(frozen=True, slots=True)
class LocalPool:
    pool_id: str
    client_id: str


def create_pool(cognito: Any, namespace: Namespace) -> LocalPool:
    """The pool, its groups and its app client in moto (``cognito`` is a boto3 ``cognito-idp`` client)."""
    pool = cognito.create_user_pool(
        PoolName=resource_name(namespace, "users"),
        UsernameAttributes=["email"],
        AutoVerifiedAttributes=["email"],
        MfaConfiguration="OPTIONAL",
        Policies={"PasswordPolicy": PASSWORD_POLICY},
        Schema=[SITES_ATTRIBUTE_SCHEMA],
        AdminCreateUserConfig={"AllowAdminCreateUserOnly": True},
    )["UserPool"]
    pool_id = str(pool["Id"])
    cognito.set_user_pool_mfa_config(UserPoolId=pool_id, SoftwareTokenMfaConfiguration={"Enabled": True},
                                     MfaConfiguration="OPTIONAL")
    for group, description in ROLE_GROUPS.items():
        cognito.create_group(UserPoolId=pool_id, GroupName=group, Description=description)
    client = cognito.create_user_pool_client(
        UserPoolId=pool_id, ClientName=resource_name(namespace, "dashboard"), GenerateSecret=False,
        ExplicitAuthFlows=list(APP_CLIENT_FLOWS), ReadAttributes=list(APP_CLIENT_READ_ATTRIBUTES),
        WriteAttributes=list(APP_CLIENT_WRITE_ATTRIBUTES), PreventUserExistenceErrors="ENABLED",
        EnableTokenRevocation=True, **TOKEN_VALIDITY,
    )["UserPoolClient"]
    return LocalPool(pool_id, str(client["ClientId"]))


def create_demo_admin(cognito: Any, pool: LocalPool, password: str, email: str = DEMO_ADMIN_EMAIL) -> None:
    """An admin of every site whose password is already set (the demo prints it)."""
    cognito.admin_create_user(UserPoolId=pool.pool_id, Username=email, MessageAction="SUPPRESS",
                              UserAttributes=[{"Name": "email", "Value": email},
                                              {"Name": "email_verified", "Value": "true"},
                                              {"Name": "custom:sites", "Value": "*"}])
    cognito.admin_set_user_password(UserPoolId=pool.pool_id, Username=email, Password=password, Permanent=True)
    cognito.admin_add_user_to_group(UserPoolId=pool.pool_id, Username=email, GroupName="admin")
