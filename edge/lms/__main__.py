"""``python -m edge.lms --config FILE.toml [--validate-config] [token ... | tls | backup ... | restore ...]``: run one
site's LMS.

The process itself (its parts, started in order and stopped in reverse) is :class:`edge.lms.process.Lms`; the
subcommands are :mod:`edge.lms.cli`. SIGTERM/SIGINT set the stop event (a second one forces the exit).

Exit codes: 0 clean stop, 1 could not start (the log says why; a refused backup or restore), 2 bad command line or
configuration, 3 the database (or, for ``restore``, the backup) comes from a newer LMS (nothing touched; the message
names both schema versions).
"""

from __future__ import annotations

import logging
import sys

from edge.lms.cli import (
    EXIT_CONFIG,
    EXIT_OK,
    EXIT_STARTUP,
    parse_args,
    refuse_newer_database,
    restore_command,
    run_command,
)
from edge.lms.config import ConfigError, load_config
from edge.lms.heap_trace import HeapTraceError, start_from_env
from edge.lms.lms_parts import StartupError
from edge.lms.process import Lms
from shared import c_heap
from shared.lifecycle import shorten_gil_switch_interval
from shared.log_format import formatter

log = logging.getLogger("edge.lms")

#: the text log line ([log] format = "text")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: the ``service`` key of a JSON log line ([log] format = "json")
LOG_SERVICE = "classtop-lms"


def main(argv: list[str] | None = None) -> int:
    c_heap.limit_arenas()  # before the LMS's threads start: they share two malloc arenas (edge.lms.process)
    args = parse_args(argv)
    try:
        start_from_env()  # opt-in tracemalloc snapshots (CLASSTOP_LMS_TRACEMALLOC; edge.lms.heap_trace)
    except HeapTraceError as exc:
        print(f"edge.lms: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.action == "restore":
        return restore_command(args)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"edge.lms: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    refused = refuse_newer_database(config)
    if refused is not None:
        return refused
    if args.action is not None:
        return run_command(config, args)
    if args.validate_config:
        cloud = f"{config.cloud.host}:{config.cloud.port}" if config.cloud else "none (site-only)"
        print(f"configuration OK: tenant {config.tenant}, stage {config.stage}, site {config.site_id}, cloud {cloud}, "
              f"db {config.db_path}")
        return EXIT_OK
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(config.log.format, logging.Formatter(LOG_FORMAT), {
        "service": LOG_SERVICE, "tenant": config.tenant, "stage": config.stage, "site_id": config.site_id,
    }))
    logging.basicConfig(level=config.log_level, handlers=[handler])
    shorten_gil_switch_interval()
    lms = Lms(config)
    lms.lifecycle.install_signal_handlers(exit_code_on_second=EXIT_STARTUP)
    try:
        lms.run()
    except StartupError as exc:
        log.error("cannot start: %s", exc)
        return EXIT_STARTUP
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
