"""``classtop-agent``: the agent's one command (the console script of the agent package).

* ``classtop-agent install`` — the service: user, directories, first ``agent.toml``, systemd unit
  (:mod:`edge.agent.install`);
* ``classtop-agent enrol <url> <token> [--ca-hash sha256:…]`` — pin the site CA (fingerprint shown, checked)
  and write ``[enroll]`` so the service enrols on start (:mod:`edge.agent.enrolment_setup`);
* ``classtop-agent run [--config FILE] [--validate-config]`` — the agent itself (``python -m edge.agent``).

Exit codes: 0 done; 1 refused or failed (the message says why; nothing half-written); 2 bad command line or
configuration.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from edge.agent import __version__
from edge.agent.footprint import HelpFormatter
from edge.agent.install import SERVICE, InstallError, InstallLayout, chown_to_service_user, install, restart_service

PROG = SERVICE
TOKEN_RE = re.compile(r"[\x21-\x7e]{1,512}")
DEFAULT = InstallLayout(executable="")


def _layout_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config-dir", type=Path, default=DEFAULT.config_dir,
                        help=f"agent.toml and the enrolment token (default {DEFAULT.config_dir})")  # fmt: skip
    parser.add_argument("--user", default=DEFAULT.user, help=f"the service user (default {DEFAULT.user})")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description="ClassTop Fleet PC agent", formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="step", required=True, metavar="{install,enrol,run}")

    inst = sub.add_parser("install", help="install the systemd service (user, directories, agent.toml, unit)",
                          formatter_class=HelpFormatter)  # fmt: skip
    _layout_options(inst)
    inst.add_argument("--state-dir", type=Path, default=DEFAULT.state_dir,
                      help=f"the agent's state (default {DEFAULT.state_dir})")  # fmt: skip
    inst.add_argument("--unit-dir", type=Path, default=DEFAULT.unit_dir,
                      help=f"where the unit goes (default {DEFAULT.unit_dir})")  # fmt: skip
    inst.add_argument("--agent-id", help="this agent's id in a new agent.toml (default: the host name)")
    inst.add_argument("--files-only", action="store_true",
                      help="write the files only: no useradd, chown or systemctl (packaging, tests)")  # fmt: skip

    enrol = sub.add_parser("enrol", aliases=["enroll"], help="pin the LMS's site CA and set up enrolment",
                           formatter_class=HelpFormatter)  # fmt: skip
    enrol.add_argument("url", help="the LMS, e.g. https://lms.school.lan:8000")
    enrol.add_argument("token", help="the enrolment token (- reads it from standard input)")
    enrol.add_argument("--ca-hash", metavar="sha256:HEX", help="the site CA's fingerprint; a mismatch refuses")
    enrol.add_argument("--yes", action="store_true", help="no questions (scripts; needs --ca-hash)")
    enrol.add_argument("--no-restart", action="store_true", help="do not restart the service afterwards")
    _layout_options(enrol)

    run = sub.add_parser("run", help="run the agent (what the service runs)", formatter_class=HelpFormatter)
    run.add_argument("--config", type=Path, default=DEFAULT.config, metavar="FILE.toml",
                     help=f"agent configuration file (default {DEFAULT.config})")  # fmt: skip
    run.add_argument("--validate-config", action="store_true", help="check the configuration file and exit")

    args = parser.parse_args(argv)
    if args.step in ("enrol", "enroll") and args.yes and not args.ca_hash:
        parser.error("--yes needs --ca-hash: a script pins the fingerprint, it never trusts whatever is shown")
    if args.step in ("enrol", "enroll") and args.token == "-" and not args.ca_hash:
        parser.error("a token from standard input needs --ca-hash (standard input cannot also confirm)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.step == "run":
        from edge.agent.__main__ import main as run_agent

        return run_agent(["--config", str(args.config), *(["--validate-config"] if args.validate_config else [])])
    try:
        if args.step == "install":
            layout = InstallLayout(config_dir=args.config_dir, state_dir=args.state_dir, unit_dir=args.unit_dir,
                                   user=args.user)  # fmt: skip
            for line in install(layout, agent_id=args.agent_id, system=not args.files_only):
                print(line)
            print(f"next: {PROG} enrol https://<LMS>:8000 <token> --config-dir {layout.config_dir}")
            return 0
        return _enrol(args)
    except InstallError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _enrol(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from edge.agent.config_models import EnrolmentSettings
    from edge.agent.enrolment_setup import SetupError, check_certified, check_pin, confirm, site_ca, write_enroll
    from shared import fingerprint
    from shared.messages.base import describe_validation_error

    layout = InstallLayout(config_dir=args.config_dir, user=args.user, executable="")
    token = sys.stdin.readline().strip() if args.token == "-" else args.token.strip()
    if not TOKEN_RE.fullmatch(token):
        print("error: not an enrolment token (1-512 printable characters, no spaces)", file=sys.stderr)
        return 2
    try:
        # without --ca-hash the pin is what the technician confirms below; a placeholder until then
        pin = fingerprint.normalise(args.ca_hash) if args.ca_hash else fingerprint.PREFIX + "0" * 64
        settings = EnrolmentSettings(url=args.url, ca_hash=pin, token_file=layout.token_file)
    except (ValueError, ValidationError) as exc:
        why = describe_validation_error(exc) if isinstance(exc, ValidationError) else str(exc)
        print(f"error: {why}", file=sys.stderr)
        return 2
    try:
        ca_pem, shown = site_ca(settings)
        print(f"The LMS at {settings.url} presents the site CA\n    {shown}")
        if args.ca_hash:
            check_pin(shown, args.ca_hash, settings.url)
            print("It matches --ca-hash.")
        else:
            if not sys.stdin.isatty():
                raise SetupError("no terminal to confirm the fingerprint: pass --ca-hash (not enrolled, nothing "
                                 "written, the token was not sent)")  # fmt: skip
            confirm(shown, _ask)
            settings = settings.model_copy(update={"ca_hash": shown})
        check_certified(settings, ca_pem)
        write_enroll(layout.config, settings, token, layout.token_file,
                     lambda path: chown_to_service_user(path, layout.user))  # fmt: skip
    except SetupError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return exc.code
    print(f"wrote [enroll] to {layout.config} and the token to {layout.token_file} (0600)")
    if args.no_restart or not DEFAULT.unit.exists() or args.config_dir != DEFAULT.config_dir:
        print(f"start the agent: systemctl restart {SERVICE} (or {PROG} run --config {layout.config})")
        return 0
    restart_service()
    print(f"restarted {SERVICE}: it enrols now (journalctl -u {SERVICE} -f)")
    return 0


def _ask(prompt: str) -> str:
    """One line from the terminal; end of input or Ctrl-C is no answer (a refusal)."""
    try:
        return input(prompt)
    except (EOFError, KeyboardInterrupt):
        print()
        return ""


if __name__ == "__main__":
    sys.exit(main())
