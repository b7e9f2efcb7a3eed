"""Accounts of the tenant's user pool (admin, tenant-wide; every change audited): list, invite (a temporary
password by e-mail; the local twin answers it instead), change role, sites or state, delete."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice.app import Response

from chalicelib import container
from chalicelib.api.http import ok, parse_body
from chalicelib.api.routes import Access, Call, Router, Scope
from chalicelib.domain.user import EMAIL_PATTERN
from chalicelib.errors import NoUserPool

if TYPE_CHECKING:
    from chalicelib.services.users import UserService

if TYPE_CHECKING:
    from chalicelib.api.bodies.users import InviteBody, UserPatchBody

api = Router(__name__, tag="users")

def users_service() -> UserService:
    service = container.get().users
    if service is None:
        raise NoUserPool("this stage has no user pool")
    return service


@api.route("GET", "/api/users", Access.ADMIN, Scope.TENANT, "List the dashboard's accounts",
           responses={"503": "no user pool"})
def list_users(call: Call[None]) -> Response:
    return ok({"users": [u.to_dict() for u in users_service().list()]})


@api.route("POST", "/api/users", Access.ADMIN, Scope.TENANT,
           "Invite an account (a temporary password by e-mail; changed at the first sign-in)", body="InviteBody",
           responses={"201": "invited", "409": "the account exists", "503": "no user pool"}, audit="user.invite",
           audit_detail=lambda request: f"role={parse_body(request, InviteBody).role}")
def invite_user(call: Call[InviteBody]) -> Response:
    invitation = users_service().invite(call.body.email, call.body.role, call.body.sites)
    data = invitation.user.to_dict()
    if invitation.temporary_password is not None:
        data["temporary_password"] = invitation.temporary_password
    return ok(data, 201)


@api.route("PATCH", "/api/users/{email}", Access.ADMIN, Scope.TENANT,
           "Change an account's role, sites or state (enabled: false signs it out)", body="UserPatchBody",
           check_ids=False, path_pattern=EMAIL_PATTERN, responses={"503": "no user pool"},
           audit="user.update",
           audit_detail=lambda request: ",".join(sorted(request.json_body or {})) or None)
def update_user(call: Call[UserPatchBody], email: str) -> Response:
    body = call.body
    user = users_service().update(email, call.principal, role=body.role, site_ids=body.sites,
                                  set_sites="sites" in body.model_fields_set, enabled=body.enabled)
    return ok(user.to_dict())


@api.route("DELETE", "/api/users/{email}", Access.ADMIN, Scope.TENANT, "Delete an account (signed out first)",
           check_ids=False, path_pattern=EMAIL_PATTERN, responses={"503": "no user pool"},
           audit="user.delete")
def delete_user(call: Call[None], email: str) -> Response:
    user = users_service().delete(email, call.principal)
    return ok({"email": user.email, "deleted": True})
