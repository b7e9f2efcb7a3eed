"""The LMS's command line: ``python -m edge.lms --config FILE [--validate-config] [token ... | tls | agent ...]``.

``token create|list|revoke`` manages local API tokens and ``tls`` makes the site CA and its server
certificates (what the LMS's first start does) — both work beside a running LMS. ``agent retire ID`` retires an
agent through the running LMS's API (the LMS holds the broker's dynamic-security control and the registry), as
an admin API token given in ``CLASSTOP_LMS_TOKEN``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import httpx

from edge.lms.auth import AuthError, Tokens
from edge.lms.config import LmsConfig
from edge.lms.store import Store, StoreError
from edge.lms.tls import SiteCaError, SiteTls
from edge.lms.tls.site_ca import CA_CERT

EXIT_OK, EXIT_STARTUP, EXIT_CONFIG = 0, 1, 2
#: the admin API token ``agent retire`` uses
TOKEN_ENV = "CLASSTOP_LMS_TOKEN"


def run_command(config: LmsConfig, args: argparse.Namespace) -> int:
    """Run the subcommand ``args.action`` (not the LMS itself)."""
    if args.action == "tls":
        return _tls_command(config)
    if args.action == "agent":
        return _agent_command(config, args)
    return _token_command(config, args)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m edge.lms", description="ClassTop Fleet LMS (one per site)")
    parser.add_argument("--config", required=True, type=Path, help="the LMS's TOML configuration file")
    parser.add_argument("--validate-config", action="store_true", help="check the configuration and exit")
    sub = parser.add_subparsers(dest="action")
    token = sub.add_parser("token", help="manage local API tokens (works while the LMS runs)")
    token_sub = token.add_subparsers(dest="token_action", required=True)
    create = token_sub.add_parser("create", help="create a token and print it (shown once)")
    create.add_argument("--role", required=True, choices=["viewer", "operator", "admin"])
    create.add_argument("--name", required=True, help="who or what holds the token")
    token_sub.add_parser("list", help="list tokens (never their secrets)")
    revoke = token_sub.add_parser("revoke", help="revoke a token by id")
    revoke.add_argument("id", type=int)
    sub.add_parser(
        "tls",
        help="make the site CA (first time) and the LMS's and broker's certificates, print the CA fingerprint "
        "agents pin (run before the broker's first start)",
    )
    agent = sub.add_parser("agent", help="the site's agents, through the running LMS's API").add_subparsers(
        dest="agent_action", required=True
    )
    retire = agent.add_parser(
        "retire", help=f"retire an agent: credentials revoked, rows archived, queued commands cancelled ({TOKEN_ENV}"
        " = an admin API token)",
    )
    retire.add_argument("agent_id")
    retire.add_argument("--reason", default=None, help="why (kept in the archive)")
    retire.add_argument("--url", default=None, help="the LMS's API (default: this LMS's http_port on loopback)")
    return parser.parse_args(argv)


def _agent_command(config: LmsConfig, args: argparse.Namespace) -> int:
    """``agent retire``: ``POST /api/clients/{id}/retire`` on the running LMS; its answer on stdout."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        print(f"edge.lms: set {TOKEN_ENV} to an admin API token (python -m edge.lms token create --role admin)",
              file=sys.stderr)  # fmt: skip
        return EXIT_CONFIG
    scheme = "https" if config.http_tls else "http"
    url = args.url or f"{scheme}://127.0.0.1:{config.http_port}"
    site_ca = config.site_tls.dir / CA_CERT if config.site_tls.dir is not None else None
    verify: bool | str = str(site_ca) if site_ca is not None and site_ca.exists() else True
    body = {} if args.reason is None else {"reason": args.reason}
    try:
        r = httpx.post(f"{url.rstrip('/')}/api/clients/{args.agent_id}/retire", json=body, verify=verify,
                       headers={"Authorization": f"Bearer {token}"}, timeout=60.0)  # fmt: skip
    except httpx.HTTPError as exc:
        print(f"edge.lms: cannot reach the LMS at {url}: {exc}", file=sys.stderr)
        return EXIT_STARTUP
    try:
        answer = r.json()
    except ValueError:
        answer = {}
    if r.status_code != 200:
        print(f"edge.lms: retire {args.agent_id} refused ({r.status_code}): {answer.get('error', r.text[:200])}",
              file=sys.stderr)  # fmt: skip
        return EXIT_CONFIG
    data = answer.get("data", {})
    print(f"agent {args.agent_id} retired: credentials {'revoked' if data.get('credentials_revoked') else 'none'}, "
          f"{data.get('commands_cancelled', 0)} queued command(s) cancelled, archive #{data.get('archive_id')}")
    return EXIT_OK


def _tls_command(config: LmsConfig) -> int:
    """``tls``: what the LMS's first start does for TLS, alone; the fingerprint on stdout, the rest on stderr."""
    try:
        files = SiteTls(config).ensure()
    except SiteCaError as exc:
        print(f"edge.lms: {exc}", file=sys.stderr)
        return EXIT_STARTUP
    print(files.fingerprint)
    for what, cert in (("LMS (HTTPS)", files.lms), ("broker", files.broker)):
        until = time.strftime("%Y-%m-%d", time.gmtime(cert.not_after))
        state = f"issued now ({cert.renewed})" if cert.renewed else "kept"
        print(f"{what}: {cert.cert_file} for {', '.join(cert.names)}, valid until {until}, {state}", file=sys.stderr)
    print(f"site CA: {files.ca_file}; the broker's files are in {files.broker_ca_file.parent}", file=sys.stderr)
    print(f'agents: [enroll] ca_hash = "{files.fingerprint}"', file=sys.stderr)
    return EXIT_OK


def _token_command(config: LmsConfig, args: argparse.Namespace) -> int:
    """``token create|list|revoke`` against the LMS's database (SQLite WAL: safe beside a running LMS)."""
    try:
        store = Store(config.db_path).open()
    except StoreError as exc:
        print(f"edge.lms: {exc}", file=sys.stderr)
        return EXIT_STARTUP
    try:
        tokens = Tokens(store)
        if args.token_action == "create":
            token_id, token = tokens.create(args.name, args.role, created_by="cli")
            print(token)
            print(f"token #{token_id} ({args.role}) for {args.name!r}: store it now, it is not shown again",
                  file=sys.stderr)  # fmt: skip
        elif args.token_action == "list":
            for row in tokens.list():
                state = "revoked" if row["revoked_at"] else "active"
                print(f"{row['id']}\t{row['role']}\t{state}\t{row['name']}")
        else:
            tokens.revoke(args.id)
            print(f"token #{args.id} revoked")
    except AuthError as exc:
        print(f"edge.lms: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    finally:
        store.close()
    return EXIT_OK


