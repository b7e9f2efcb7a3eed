"""``classtop tenant deploy|update|delete|list|admin-token`` (also ``python -m infra.aws.deploy tenant ...``).

deploy       build template.yaml + the Lambda package (shared/ vendored), upload them, create the tenant's
             stack, wait (stack events are printed as they come), print the outputs, then issue the tenant's
             first admin token (printed once).
update       the same for an existing stack (no token).
delete       delete the tenant's stack (asks for --yes). Its tables (the audit log among them) and media bucket
             are kept and listed; --purge deletes them too (the bucket emptied first), also after a delete
             that kept them. A tenant whose kept data exists cannot be deployed again until it is purged.
list         every tenant stack of the account/region.
admin-token  issue another admin token (e.g. when the one printed by deploy was lost).

``--data-plane-only`` deploys infra/aws/data-plane.yaml alone (tables, IoT policy and thing type, SNS topic,
S3 bucket): what moto's CloudFormation can deploy. ``--endpoint-url`` sends every AWS call to one URL (the
local twin's moto server); it does not imply ``--data-plane-only``.

Exit codes: 0 done, 1 failed (the message says why), 2 bad command line or input.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from urllib.parse import urlparse

from infra.aws import alarms, logs
from infra.aws.admin_token import IssuedAdmin
from infra.aws.clients import Clients
from infra.aws.errors import InfraError, UsageError
from infra.aws.stacks import StackInfo, StackManager, stack_name
from infra.aws.tenants import Target, Tenants
from shared import names
from shared.errors import InvalidName
from shared.names import check_stage, check_tenant

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def _print_admin(issued: IssuedAdmin) -> None:
    print(f"admin token (shown once, keep it secret): {issued.secret}")
    expires = datetime.fromtimestamp(issued.expires_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"  token id {issued.token_id}, expires {expires} (revoke: DELETE /api/tokens/{issued.token_id})")


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="classtop", description="ClassTop Fleet administration")
    groups = parser.add_subparsers(dest="group", required=True, metavar="tenant")
    tenant = groups.add_parser("tenant", help="deploy, update, delete or list tenant stacks")
    actions = tenant.add_subparsers(dest="action", required=True, metavar="ACTION")

    def common(p: argparse.ArgumentParser, *, stack: bool = True) -> None:
        if stack:
            p.add_argument("--tenant", required=True, help=f"tenant id: 1-{names.TENANT_MAX} of {names.GRAMMAR}")
            p.add_argument("--stage", default="dev",
                           help=f"stage: 1-{names.STAGE_MAX} of {names.GRAMMAR} (default: dev)")
        p.add_argument("--region", help="AWS region (default: AWS_DEFAULT_REGION / the profile's)")
        p.add_argument("--profile", help="AWS profile")
        p.add_argument("--endpoint-url", help="send every AWS call here (the local twin's moto server)")
        p.add_argument("--poll", type=float, default=5.0, help="seconds between stack status polls (default 5)")

    for name, text in (("deploy", "create the tenant's stack and its first admin token"),
                       ("update", "update the tenant's stack")):
        p = actions.add_parser(name, help=text)
        common(p)
        p.add_argument("--data-plane-only", action="store_true",
                       help="deploy infra/aws/data-plane.yaml alone (what moto can deploy)")
        p.add_argument("--artifact-bucket", help="S3 bucket for the Lambda package and templates "
                                                 "(default: classtop-artifacts-<account>-<region>, created)")
        p.add_argument("--media-retention-days", type=int, default=90,
                       help="days CCTV snapshots/clips are kept (1-3650, default 90)")
        p.add_argument("--log-retention-days", type=int, default=logs.DEFAULT_LOG_RETENTION_DAYS,
                       help="days the functions' logs and the API access log are kept (one of "
                            f"{', '.join(map(str, logs.RETENTION_CHOICES))}; "
                            f"default {logs.DEFAULT_LOG_RETENTION_DAYS})")
        p.add_argument("--alarm-email", default="", metavar="ADDRESS",
                       help="e-mail address told of every alarm of the stack (it confirms the subscription first; "
                            "docs/operations.md); an update without it removes the subscription")
        p.add_argument("--dashboard", action="store_true",
                       help="create the CloudWatch operations dashboard ($3 a month; docs/operations.md); an update "
                            "without it removes the dashboard")
        p.add_argument("--legacy-rest-api", action="store_true",
                       help="keep the REST API of releases before the HTTP API (output LegacyEndpointURL) while sites "
                            "still use its URL (docs/deploy.md, Upgrade notes)")
        p.add_argument("--drop-legacy-rest-api", action="store_true",
                       help="delete the REST API of earlier releases (an update of a stack that has it needs this "
                            "or --legacy-rest-api)")
        if name == "deploy":
            p.add_argument("--no-admin-token", action="store_true", help="do not issue the first admin token")
    p = actions.add_parser("delete", help="delete the tenant's stack (its tables and bucket are kept)")
    common(p)
    p.add_argument("--yes", action="store_true", help="confirm the deletion")
    p.add_argument("--purge", action="store_true",
                   help="also delete the tenant's tables and media bucket (emptied first): its data is gone for good")
    p = actions.add_parser("list", help="list tenant stacks")
    common(p, stack=False)
    p = actions.add_parser("admin-token", help="issue another admin token for the tenant")
    common(p)
    return parser


def _check(args: argparse.Namespace) -> None:
    if getattr(args, "tenant", None) is not None:
        for flag, check, value in (("--tenant", check_tenant, args.tenant), ("--stage", check_stage, args.stage)):
            try:
                check(value)
            except InvalidName as exc:
                raise UsageError(f"{flag}: {exc.message}") from None
    if args.endpoint_url is not None:
        parsed = urlparse(args.endpoint_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise UsageError(f"--endpoint-url: not an http(s) URL: {args.endpoint_url!r}")
    if getattr(args, "artifact_bucket", None) and not _BUCKET_RE.match(args.artifact_bucket):
        raise UsageError(f"--artifact-bucket: invalid S3 bucket name {args.artifact_bucket!r}")
    days = getattr(args, "media_retention_days", 90)
    if not 1 <= days <= 3650:
        raise UsageError("--media-retention-days must be between 1 and 3650")
    log_days = getattr(args, "log_retention_days", logs.DEFAULT_LOG_RETENTION_DAYS)
    if log_days not in logs.RETENTION_CHOICES:
        raise UsageError(f"--log-retention-days must be one of {', '.join(map(str, logs.RETENTION_CHOICES))}")
    email = getattr(args, "alarm_email", "")
    if email and not re.match(alarms.EMAIL_PATTERN, email):
        raise UsageError(f"--alarm-email: not an e-mail address: {email!r}")
    if args.poll <= 0:
        raise UsageError("--poll must be positive")


def _print_stack(info: StackInfo) -> None:
    print(f"stack {info.name}: {info.status}")
    for key in sorted(info.outputs):
        print(f"  {key} = {info.outputs[key]}")


def run(args: argparse.Namespace) -> int:
    _check(args)
    clients = Clients(region=args.region, endpoint_url=args.endpoint_url, profile=args.profile)
    stacks = StackManager(clients, progress=_progress, poll_s=args.poll)
    tenants = Tenants(clients, stacks, progress=_progress)
    if args.action == "list":
        found = tenants.list()
        for info in found:
            print(f"{info.tenant}\t{info.stage}\t{info.plane}\t{info.status}\t{info.name}")
        if not found:
            _progress("no tenant stacks")
        return EXIT_OK
    if args.action == "delete":
        if not args.yes:
            what = "its stack, tables and bucket, for good" if args.purge else "its stack (tables and bucket are kept)"
            raise UsageError(f"deleting tenant {args.tenant} (stage {args.stage}) deletes {what}: add --yes to confirm")
        kept = tenants.delete(args.tenant, args.stage, purge=args.purge)
        print(f"deleted tenant {args.tenant} (stage {args.stage})")
        if args.purge:
            print("its tables and media bucket are deleted too")
        for item in kept:
            print(f"kept {item}")
        if kept:
            print(f"the kept data stays (and is billed) until `classtop tenant delete --tenant {args.tenant} "
                  f"--stage {args.stage} --purge --yes`; the tenant cannot be deployed again before that")
        return EXIT_OK
    if args.action == "admin-token":
        from infra.aws.admin_token import create_first_admin

        stacks.require(stack_name(args.tenant, args.stage), f"tenant {args.tenant} (stage {args.stage})")
        issued = create_first_admin(args.tenant, args.stage, region=clients.region, endpoint_url=args.endpoint_url)
        _print_admin(issued)
        return EXIT_OK
    target = Target(tenant=args.tenant, stage=args.stage, data_plane_only=args.data_plane_only,
                    artifact_bucket=args.artifact_bucket, media_retention_days=args.media_retention_days,
                    log_retention_days=args.log_retention_days, alarm_email=args.alarm_email,
                    dashboard=args.dashboard, legacy_rest_api=args.legacy_rest_api,
                    drop_legacy_rest_api=args.drop_legacy_rest_api)
    if args.action == "update":
        updated = tenants.update(target)
        if updated is None:
            print(f"stack {target.stack}: no changes")
        else:
            _print_stack(updated)
        return EXIT_OK
    deployed = tenants.deploy(target, admin_token=not args.no_admin_token)
    _print_stack(deployed.stack)
    if deployed.admin is not None:
        _print_admin(deployed.admin)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return run(args)
    except InfraError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the last line of defence: a message, never a traceback
        if os.environ.get("CLASSTOP_DEBUG"):
            raise
        print(f"error: unexpected failure: {type(exc).__name__}: {exc} (CLASSTOP_DEBUG=1 shows the traceback)",
              file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
