"""The LMS's command line: ``python -m edge.lms --config FILE [--validate-config] [token ... | tls | backup ARCHIVE |
restore ARCHIVE [--force]]``.

``token create|list|revoke|rotate`` manages local API tokens and ``tls [rotate|status]`` makes (or rotates, or
lists) the site CA's server certificates (what the LMS's first start does) — both work beside a running LMS.
``backup`` writes one archive of the site (:mod:`edge.lms.backup`), also while the LMS runs; ``restore`` puts one
back onto a stopped LMS (it may run before the configuration file exists: the archive's is then written where
``--config`` says).

Everything but ``restore`` first refuses a database whose schema is newer than this LMS knows (exit 3, nothing
touched: :func:`refuse_newer_database`); ``tls status`` exits 4 when a certificate is about to expire.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from edge.lms import __version__
from edge.lms.auth import AuthError, Tokens
from edge.lms.backup import BackupError, BackupTooNew, make_backup, restore_backup
from edge.lms.config import LmsConfig
from edge.lms.schema import SCHEMA_VERSION
from edge.lms.store import SchemaTooNew, Store, StoreError, check_schema
from edge.lms.tls import CertificateWatch, SiteCaError, SiteTls

EXIT_OK, EXIT_STARTUP, EXIT_CONFIG, EXIT_SCHEMA, EXIT_EXPIRING = 0, 1, 2, 3, 4


def run_command(config: LmsConfig, args: argparse.Namespace) -> int:
    """Run the subcommand ``args.action`` (not the LMS itself)."""
    if args.action == "tls":
        return _tls_status(config) if args.tls_action == "status" else _tls_command(config, args.tls_action)
    if args.action == "backup":
        return _backup_command(args.config, config, args.archive)
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
    return parser.parse_args(argv)


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
        elif args.token_action == "rotate":
            token_id, token = tokens.rotate(args.id, created_by=f"cli rotation of #{args.id}")
            print(token)
            print(f"token #{token_id} replaces #{args.id}: give it to the holder, then `token revoke {args.id}`",
                  file=sys.stderr)  # fmt: skip
        else:
            tokens.revoke(args.id)
            print(f"token #{args.id} revoked")
    except AuthError as exc:
        print(f"edge.lms: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    finally:
        store.close()
    return EXIT_OK


