"""The LMS's command line: ``python -m edge.lms --config FILE [--validate-config] [account ... | token ... |
tls ... | backup ARCHIVE | restore ARCHIVE [--force] | agent retire ID]``.

``account create|list|reset|disable|enable|unlock`` manages the console's accounts, ``token create|list|revoke|rotate``
manages local API tokens and ``tls [rotate|status]`` makes (or rotates, or
lists) the site CA's server certificates (what the LMS's first start does) — both work beside a running LMS.
``backup`` writes one archive of the site (:mod:`edge.lms.backup`), also while the LMS runs; ``restore`` puts one
back onto a stopped LMS (it may run before the configuration file exists: the archive's is then written where
``--config`` says). ``agent retire ID`` retires an agent through the running LMS's API (the LMS holds the broker's
dynamic-security control and the registry), as an admin API token given in ``CLASSTOP_LMS_TOKEN``.

Everything but ``restore`` first refuses a database whose schema is newer than this LMS knows (exit 3, nothing
touched: :func:`refuse_newer_database`); ``tls status`` exits 4 when a certificate is about to expire.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from edge.lms import __version__
from edge.lms.auth import Accounts, AuthError, Tokens, UnknownAccount
from edge.lms.backup import BackupError, BackupTooNew, make_backup, restore_backup
from edge.lms.config import LmsConfig
from edge.lms.schema import SCHEMA_VERSION
from edge.lms.store import SchemaTooNew, Store, StoreError, check_schema
from edge.lms.tls import CertificateWatch, SiteCaError, SiteTls
from edge.lms.tls.site_ca import CA_CERT

EXIT_OK, EXIT_STARTUP, EXIT_CONFIG, EXIT_SCHEMA, EXIT_EXPIRING = 0, 1, 2, 3, 4
#: the admin API token ``agent retire`` uses
TOKEN_ENV = "CLASSTOP_LMS_TOKEN"


def run_command(config: LmsConfig, args: argparse.Namespace) -> int:
    """Run the subcommand ``args.action`` (not the LMS itself)."""
    if args.action == "tls":
        return _tls_status(config) if args.tls_action == "status" else _tls_command(config, args.tls_action)
    if args.action == "backup":
        return _backup_command(args.config, config, args.archive)
    if args.action == "agent":
        return _agent_command(config, args)
    if args.action == "account":
        return _account_command(config, args)
    return _token_command(config, args)


def refuse_newer_database(config: LmsConfig) -> int | None:
    """:data:`EXIT_SCHEMA` (and the message on stderr) when the database is newer than this LMS, else ``None``."""
    try:
        check_schema(config.db_path, SCHEMA_VERSION, version=__version__)
    except SchemaTooNew as exc:
        print(f"edge.lms: {exc}", file=sys.stderr)
        return EXIT_SCHEMA
    except StoreError as exc:
        print(f"edge.lms: {exc}", file=sys.stderr)
        return EXIT_STARTUP
    return None


def restore_command(args: argparse.Namespace) -> int:
    """``restore ARCHIVE [--force]`` (before the configuration is loaded: it may come from the archive)."""
    try:
        restored = restore_backup(args.config, args.archive, force=args.force)
    except BackupError as exc:
        print(f"edge.lms: {exc}", file=sys.stderr)
        return EXIT_SCHEMA if isinstance(exc, BackupTooNew) else EXIT_STARTUP
    manifest = restored.manifest
    print(f"restored the backup of site {manifest.site_id} made {manifest.created_at} by LMS {manifest.lms_version} "
          f"(schema version {manifest.schema_version}): {len(restored.written)} files", file=sys.stderr)  # fmt: skip
    if restored.dynsec_elsewhere is not None:
        print(f"the broker's dynamic-security file is in {restored.dynsec_elsewhere}: put it where the broker "
              "reads it (its plugin_opt_config_file) before the broker starts", file=sys.stderr)  # fmt: skip
    elif manifest.broker_state != "included":
        print(f"broker state {manifest.broker_state}", file=sys.stderr)
    return EXIT_OK


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
    rotate = token_sub.add_parser(
        "rotate", help="a new token with the same name and role (printed once); the old one stays valid until revoked"
    )
    rotate.add_argument("id", type=int)
    account = sub.add_parser("account", help="manage the console's accounts (works while the LMS runs)")
    account_sub = account.add_subparsers(dest="account_action", required=True)
    made = account_sub.add_parser("create", help="invite a person: prints a one-time password (changed at first "
                                  "sign-in)")  # fmt: skip
    made.add_argument("username")
    made.add_argument("--role", required=True, choices=["viewer", "operator", "admin"])
    made.add_argument("--cameras", action="store_true", help="may watch live views, recordings and snapshots")
    account_sub.add_parser("list", help="list accounts (never their passwords)")
    for action, text in (("reset", "a new one-time password (printed once); ends the account's sessions"),
                         ("disable", "refuse its sign-ins and end its sessions"), ("enable", "allow it again"),
                         ("unlock", "lift a lock-out after failed sign-ins")):  # fmt: skip
        account_sub.add_parser(action, help=text).add_argument("username")
    tls = sub.add_parser(
        "tls",
        help="make the site CA (first time) and the LMS's and broker's certificates, print the CA fingerprint "
        "agents pin (run before the broker's first start); `tls rotate`: new LMS and broker certificates now; "
        "`tls status`: every site certificate's end (exit 4 when one is within site_tls.warn_before_days)",
    )
    tls.add_argument("tls_action", nargs="?", choices=["ensure", "rotate", "status"], default="ensure")
    backup = sub.add_parser("backup", help="write one archive of the site: database, CA, certificates, "
                            "configuration, broker state (works while the LMS runs)")  # fmt: skip
    backup.add_argument("archive", type=Path, help="a new file (e.g. lms-2026-12-06.tar.gz)")
    restore = sub.add_parser("restore", help="restore an archive onto a stopped LMS (a fresh data directory)")
    restore.add_argument("archive", type=Path, help="an archive made by `backup`")
    restore.add_argument("--force", action="store_true", help="replace data that is already there")
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


def _backup_command(config_path: Path, config: LmsConfig, archive: Path) -> int:
    try:
        manifest = make_backup(config_path, config, archive)
    except BackupError as exc:
        print(f"edge.lms: {exc}", file=sys.stderr)
        return EXIT_STARTUP
    print(archive)
    print(f"{len(manifest.members)} files, schema version {manifest.schema_version}, broker state "
          f"{manifest.broker_state}; the archive holds the site CA's key: keep it as safe as the LMS", file=sys.stderr)
    return EXIT_OK


def _tls_command(config: LmsConfig, action: str) -> int:
    """``tls``: what the LMS's first start does for TLS, alone; ``tls rotate``: new LMS and broker certificates
    (a running LMS serves its new one from its next check, the broker after its reload; ``POST
    /api/site-tls/rotate`` does both at once). The fingerprint on stdout, the rest on stderr."""
    try:
        site_tls = SiteTls(config)
        files = site_tls.rotate() if action == "rotate" else site_tls.ensure()
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


def _tls_status(config: LmsConfig) -> int:
    """``tls status``: one line per site certificate (name, end, days left); exit 3 if one is about to lapse."""
    site_tls = SiteTls(config)
    try:
        site_tls.ensure()  # nothing is issued unless missing or due (what a running LMS would do anyway)
    except SiteCaError as exc:
        print(f"edge.lms: {exc}", file=sys.stderr)
        return EXIT_STARTUP
    cloud_cert = config.cloud.tls.cert_file if config.cloud is not None and config.cloud.tls is not None else None
    watch = CertificateWatch(site_tls, on_renewed=lambda _files: None, cloud_cert=cloud_cert,
                             warn_before_days=config.site_tls.warn_before_days)  # fmt: skip
    statuses = watch.status()
    for cert in statuses:
        until = "?" if cert.not_after is None else time.strftime("%Y-%m-%d", time.gmtime(cert.not_after))
        state = cert.error or ("EXPIRING" if cert.warning else "ok")
        print(f"{cert.name}\t{until}\t{cert.days_left if cert.days_left is not None else '?'}\t{state}\t{cert.file}")
    return EXIT_EXPIRING if any(c.warning for c in statuses) else EXIT_OK


def _on_database(config: LmsConfig, run: Callable[[Store], int]) -> int:
    """``run`` on the LMS's database (opened here, closed after); a refused change (:class:`AuthError`) is
    :data:`EXIT_CONFIG` with its message."""
    try:
        store = Store(config.db_path).open()
    except StoreError as exc:
        print(f"edge.lms: {exc}", file=sys.stderr)
        return EXIT_STARTUP
    try:
        return run(store)
    except AuthError as exc:
        print(f"edge.lms: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    finally:
        store.close()


def _account_command(config: LmsConfig, args: argparse.Namespace) -> int:
    """``account create|list|reset|disable|enable|unlock`` against the LMS's database (beside a running LMS)."""
    return _on_database(config, lambda store: _accounts(store, args))


def _accounts(store: Store, args: argparse.Namespace) -> int:
    accounts = Accounts(store)
    if args.account_action == "list":
        for row in accounts.list():
            state = "disabled" if row["disabled"] else "locked" if row["locked"] else "active"
            print(f"{row['id']}\t{row['username']}\t{row['role']}\t{state}\t"
                  f"{'cameras' if row['cameras'] else '-'}")  # fmt: skip
        return EXIT_OK
    if args.account_action == "create":
        password = secrets.token_urlsafe(12)
        accounts.create(args.username, args.role, password, cameras=args.cameras, created_by="cli")
        print(password)
        print(f"account {args.username!r} ({args.role}): give this one-time password to its holder; it must be "
              "changed at the first sign-in", file=sys.stderr)  # fmt: skip
        return EXIT_OK
    matches = [row for row in accounts.list() if row["username"].lower() == args.username.lower()]
    if not matches:
        raise UnknownAccount(f"no account named {args.username!r}")
    account_id = int(matches[0]["id"])
    if args.account_action == "reset":
        print(accounts.reset_password(account_id))
        print("one-time password: it must be changed at the first sign-in", file=sys.stderr)
    else:
        accounts.update(account_id, disabled={"disable": True, "enable": False}.get(args.account_action),
                        unlock=args.account_action == "unlock")  # fmt: skip
        print(f"account {args.username!r}: {args.account_action}d", file=sys.stderr)
    return EXIT_OK


def _token_command(config: LmsConfig, args: argparse.Namespace) -> int:
    """``token create|list|revoke|rotate`` against the LMS's database (SQLite WAL: safe beside a running LMS)."""
    return _on_database(config, lambda store: _tokens(store, args))


def _tokens(store: Store, args: argparse.Namespace) -> int:
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
    elif args.token_action == "rotate":
        token_id, token = tokens.rotate(args.id, created_by=f"cli rotation of #{args.id}")
        print(token)
        print(f"token #{token_id} replaces #{args.id}: give it to the holder, then `token revoke {args.id}`",
              file=sys.stderr)  # fmt: skip
    else:
        tokens.revoke(args.id)
        print(f"token #{args.id} revoked")
    return EXIT_OK
