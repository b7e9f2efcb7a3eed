"""``python cloud/manage.py …``: bootstrap commands run against the configured tables (the same environment as
the app: ``CLASSTOP_TENANT``, ``CLASSTOP_STAGE``, ``AWS_DEFAULT_REGION``, optional ``CLASSTOP_AWS_ENDPOINT``).

    manage.py token create --role admin --name "first admin" [--site S ...] [--ttl SECONDS]
    manage.py token list
    manage.py token revoke TOKEN_ID
    manage.py enrolment create --name "school 1" [--site S] [--ttl SECONDS]
    manage.py agent retire AGENT_ID
    manage.py site retire SITE_ID
    manage.py users list
    manage.py users invite EMAIL --role operator [--site S ...]
    manage.py users set EMAIL [--role R] [--site S ... | --all-sites]
    manage.py users disable|enable EMAIL
    manage.py tables create
    manage.py openapi > docs/openapi.json

Secrets are printed once (``--json`` for a machine-readable line); only their SHA-256 is stored. API tokens expire
(default 90 days, at most 365); ``token list`` shows ids, never secrets; creating and revoking a token is written to
the audit log (actor ``manage.py``), like the same acts through ``/api/tokens``; so are retirements (what they do:
``chalicelib/services/retirement.py``) and every change to the dashboard's accounts (``users``: the tenant's user
pool, ``CLASSTOP_USER_POOL_ID``/``CLASSTOP_USER_POOL_CLIENT_ID``). Exit status: 0 ok, 2 bad arguments,
configuration or an unknown token id, 1 an AWS failure.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from chalicelib import container, models
from chalicelib.container import Container
from chalicelib.domain.token import DEFAULT_TOKEN_TTL_S, ApiToken, Principal, Role
from chalicelib.errors import CloudError, ConfigError

ACTOR = "manage.py"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="manage.py", description="ClassTop cloud plane administration")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    groups = parser.add_subparsers(dest="group", required=True)

    token = groups.add_parser("token", help="admin API tokens").add_subparsers(dest="action", required=True)
    create = token.add_parser("create", help="create an API token (the first admin token, for one)")
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--name", required=True, help="who or what holds the token (shown in the audit log)")
    create.add_argument("--site", action="append", dest="sites", metavar="SITE_ID",
                        help="limit the token to this site (repeat for several; default: every site)")
    create.add_argument("--ttl", type=int, metavar="SECONDS",
                        help=f"lifetime (default {DEFAULT_TOKEN_TTL_S // 86400} days, at most 365 days)")
    token.add_parser("list", help="list API tokens (ids, roles, sites, expiry; never secrets)")
    revoke = token.add_parser("revoke", help="revoke an API token by its id (refused from then on)")
    revoke.add_argument("token_id", metavar="TOKEN_ID")

    enrolment = groups.add_parser("enrolment", help="one-time LMS enrolment tokens").add_subparsers(
        dest="action", required=True)
    enrol = enrolment.add_parser("create", help="create a one-time enrolment token for one LMS")
    enrol.add_argument("--name", required=True)
    enrol.add_argument("--site", dest="site", metavar="SITE_ID", help="the site id the LMS will get")
    enrol.add_argument("--ttl", type=int, metavar="SECONDS", help="lifetime (default CLASSTOP_ENROLMENT_TTL_S)")

    tables = groups.add_parser("tables", help="DynamoDB tables (local twin / development)").add_subparsers(
        dest="action", required=True)
    tables.add_parser("create", help="create every table that does not exist yet")

    for noun, what in (("agent", "an agent"), ("site", "a site")):
        retire = groups.add_parser(noun, help=f"retire {what}").add_subparsers(dest="action", required=True)
        retire.add_parser("retire", help=f"retire {what} (see chalicelib/services/retirement.py)").add_argument(
            "target_id", help=f"the {noun} id"
        )
    users = groups.add_parser("users", help="the dashboard's accounts (the tenant's user pool)").add_subparsers(
        dest="action", required=True)
    users.add_parser("list", help="list accounts: e-mail, role, sites, enabled, status")
    invite = users.add_parser("invite", help="invite an account (a temporary password by e-mail)")
    invite.add_argument("email")
    invite.add_argument("--role", required=True, choices=[r.value for r in Role])
    invite.add_argument("--site", action="append", dest="sites", metavar="SITE_ID",
                        help="limit the account to this site (repeat; default: every site)")
    change = users.add_parser("set", help="change an account's role or sites")
    change.add_argument("email")
    change.add_argument("--role", choices=[r.value for r in Role])
    scope = change.add_mutually_exclusive_group()
    scope.add_argument("--site", action="append", dest="sites", metavar="SITE_ID", help="its sites from now on")
    scope.add_argument("--all-sites", action="store_true", help="every site from now on")
    for state in ("disable", "enable"):
        users.add_parser(state, help=f"{state} an account" + (" (and sign it out)" if state == "disable" else "")
                         ).add_argument("email")
    groups.add_parser("openapi", help="print the OpenAPI document of the API (docs/openapi.json)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.group == "openapi":  # needs no configuration
        from chalicelib.api.openapi import build_document

        print(json.dumps(build_document(), indent=2, sort_keys=False))
        return 0
    try:
        services = container.get()
        if args.group == "token":
            out = _token(services, args)
        elif args.group == "enrolment":
            if args.ttl is not None and args.ttl <= 0:
                raise ConfigError("--ttl must be positive")
            secret, stored = services.lms.create_enrolment(args.name, site_id=args.site, ttl_s=args.ttl,
                                                           created_by="manage.py")
            out = {"token": secret, "name": stored.name, "site_id": stored.site_id, "expires_at": stored.expires_at}
        elif args.group in ("agent", "site"):
            out = _retire(services, args.group, args.target_id)
        elif args.group == "users":
            out = _users(services, args)
        else:
            out = {"created": models.create_tables(services.settings)}
    except CloudError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1 if exc.status >= 500 and not isinstance(exc, ConfigError) else 2
    if args.json:
        print(json.dumps(out))
    elif "token" in out:
        print(out["token"])
    elif "tokens" in out:
        print("\n".join(_row(t) for t in out["tokens"]) or "no API tokens")
    elif "retired" in out:
        print(f"retired {args.group} {args.target_id}: {json.dumps(out)}")
    elif "users" in out:
        print("\n".join(_user_row(u) for u in out["users"]) or "no accounts")
    elif "email" in out:
        print(_user_row(out) + (f"\ntemporary password: {out['temporary_password']}"
                                if out.get("temporary_password") else ""))
    elif "revoked" in out:
        print(f"revoked {out['token_id']}")
    else:
        print("\n".join(out["created"]) or "all tables exist")
    return 0


def _token(services: Container, args: argparse.Namespace) -> dict[str, Any]:
    """``token create|list|revoke``; creating and revoking leave an audit entry, refused attempts too."""
    if args.action == "list":
        tokens: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page = services.tokens.page(limit=500, cursor=cursor)
            tokens += [ApiToken.to_dict(t) for t in page.items]
            if (cursor := page.cursor) is None:
                return {"tokens": tokens}
    if args.action == "create":
        action, target, status = "token.create", "/api/tokens", 201
    else:
        action, target, status = "token.revoke", f"/api/tokens/{args.token_id[:80]}", 200
    try:
        if args.action == "create":
            issued = services.tokens.create(args.role, args.name, site_ids=args.sites, ttl_s=args.ttl,
                                            created_by=ACTOR)
            out = {"token": issued.secret, **issued.token.to_dict()}
            target = f"{target} token_id={issued.token.token_id}"
        else:
            out = {"token_id": services.tokens.revoke(args.token_id).token_id, "revoked": True}
    except CloudError as exc:
        services.audit.record(ACTOR, None, action, target, exc.status, exc.code.value)
        raise
    services.audit.record(ACTOR, None, action, target, status, "ok")
    return out


def _retire(services: Container, noun: str, target_id: str) -> dict[str, Any]:
    """``agent retire`` / ``site retire``, as a tenant-wide admin; audited like the API's retirements."""
    principal = Principal(ACTOR, Role.ADMIN)
    action, target = ("agent.retire", f"/api/agents/{target_id[:80]}/retire") if noun == "agent" else (
        "lms.retire", f"/api/lms/{target_id[:80]}/retire")  # fmt: skip
    try:
        if noun == "agent":
            out = services.retirement.retire_agent(target_id, principal).to_dict()
        else:
            out = services.retirement.retire_site(target_id, principal).to_dict()
    except CloudError as exc:
        services.audit.record(ACTOR, None, action, target, exc.status, exc.code.value)
        raise
    services.audit.record(ACTOR, None, action, target, 200, "ok")
    return out


def _users(services: Container, args: argparse.Namespace) -> dict[str, Any]:
    """``users list|invite|set|disable|enable``; every change leaves an audit entry, refused attempts too."""
    if services.users is None:
        raise ConfigError("no user pool: set CLASSTOP_USER_POOL_ID and CLASSTOP_USER_POOL_CLIENT_ID")
    if args.action == "list":
        return {"users": [u.to_dict() for u in services.users.list()]}
    email = str(args.email)[:254]
    action = "user.invite" if args.action == "invite" else "user.update"
    target = "/api/users" if args.action == "invite" else f"/api/users/{email}"
    try:
        if args.action == "invite":
            invitation = services.users.invite(email, args.role, args.sites)
            out = invitation.user.to_dict()
            if invitation.temporary_password is not None:
                out["temporary_password"] = invitation.temporary_password
            target = f"{target} email={invitation.user.email}"
        elif args.action == "set":
            out = services.users.update(email, None, role=args.role, site_ids=args.sites,
                                        set_sites=bool(args.sites) or args.all_sites).to_dict()
        else:
            out = services.users.update(email, None, enabled=args.action == "enable").to_dict()
    except CloudError as exc:
        services.audit.record(ACTOR, None, action, target, exc.status, exc.code.value)
        raise
    services.audit.record(ACTOR, None, action, target, 201 if args.action == "invite" else 200, "ok")
    return out


def _user_row(user: dict[str, Any]) -> str:
    sites = ",".join(user["sites"]) if user["sites"] else "*"
    state = "enabled" if user["enabled"] else "disabled"
    return f"{user['email']}  {user['role'] or '-':<8}  sites={sites}  {state}  {user['status']}"


def _row(token: dict[str, Any]) -> str:
    sites = ",".join(token["site_ids"]) if token["site_ids"] else "*"
    expires = datetime.fromtimestamp(token["expires_at"], UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{token['token_id']}  {token['role']:<8}  sites={sites}  expires={expires}  {token['name']}"
