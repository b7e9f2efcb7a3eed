"""``make demo``: run the whole system locally (the local twin) until Ctrl-C.

The dashboard and its cloud API on :8765 (HTTP, standing in for CloudFront's and API Gateway's HTTPS; the demo
admin's e-mail and password are printed), the site's LMS on :8000 (HTTPS) and the site
broker on :8883 (MQTT over TLS), both with certificates of the site CA (override with
``--api-port/--lms-port/--broker-port``); state and logs under ``var/demo/`` (the site CA is kept there across
runs).
"""

from __future__ import annotations

import argparse
import logging
import shlex
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from edge.lms.auth.accounts import FIRST_ADMIN_FILE
from infra.local.mosquitto import MosquittoError
from infra.local.twin import Twin
from infra.local.twin_options import TwinOptions, TwinPorts

REPO = Path(__file__).resolve().parents[2]


def first_admin_password(twin: Twin) -> str:
    """The LMS's first admin's one-time password (what its first start wrote beside its database), or why not."""
    path = twin.lms_dir / FIRST_ADMIN_FILE
    try:
        return path.read_text().strip()
    except OSError:
        return f"(not in {path}: changed already, or the database existed)"


def banner(twin: Twin) -> str:
    agent = twin.opt.agent_ids[0]
    broker_plain = f"{twin.opt.host}:{twin.site_broker.port}" if twin.site_broker is not None else "-"
    cloud_port = twin.cloud_broker.port if twin.cloud_broker is not None else "-"
    body = {"agent_id": agent, "command": "exec", "params": {"cmd": "uname -a; uptime"}}
    import json

    auth = f"Authorization: Bearer {twin.admin_token}"
    cacert = f"--cacert {shlex.quote(str(twin.lms_ca_file))}"
    post = (
        f"curl -s -X POST '{twin.api_url}/api/commands?wait=10' -H {shlex.quote(auth)} "
        f"-H 'Content-Type: application/json' -d {shlex.quote(json.dumps(body))}"
    )
    settings_put = (
        f"curl -s -X PUT '{twin.api_url}/api/agents/{agent}/settings' -H {shlex.quote(auth)} "
        f"-H 'Content-Type: application/json' -d {shlex.quote(json.dumps({'settings': {'theme_mode': 'dark'}}))}"
    )
    return "\n".join(
        [
            "",
            "ClassTop Fleet — local twin is up",
            f"  dashboard (district admin)  {twin.api_url}/",
            f"    demo admin                {twin.demo_user[0]}   password {twin.demo_user[1]}",
            f"  cloud API                   {twin.api_url}/api/health",
            f"  LMS (site console + API)    {twin.lms_url}/    API docs {twin.lms_url}/docs",
            f"    console sign-in           user admin, one-time password {first_admin_password(twin)}",
            f"  site broker                 mqtts://{twin.opt.host}:{twin.opt.ports.site_broker}"
            f"   (plain MQTT on loopback only: {broker_plain})",
            f"  IoT Core stand-in           mqtts://{twin.opt.host}:{cloud_port}   (mutual TLS only; its root CA "
            f"{twin.iot_dir / 'ca.crt'})",
            f"  site CA                     {twin.ca_hash}",
            f"                              {twin.lms_ca_file}",
            f"  tenant / site / agents      {twin.opt.tenant} / {twin.opt.site_id} / {', '.join(twin.opt.agent_ids)}",
            f"  admin token                 {twin.admin_token}",
            f"  LMS admin token             {twin.lms_token}",
            f"  logs                        {twin.workdir / 'logs'}",
            "",
            "Run a command on an agent from the cloud API (through IoT Core, the LMS and the agent) and read",
            "its output:",
            "",
            f"  {post}",
            "",
            "Set an agent's settings centrally (its device shadow; the LMS applies them, now or when the agent is",
            "back) and read desired vs reported:",
            "",
            f"  {settings_put}",
            f"  curl -s '{twin.api_url}/api/agents/{agent}/settings' -H {shlex.quote(auth)}",
            "",
            "The same on site, through the LMS API only (HTTPS, verified against the site CA):",
            "",
            f"  curl -s {cacert} -X POST {twin.lms_url}/api/clients/{agent}/command "
            f"-H 'Content-Type: application/json' -H 'Authorization: Bearer {twin.lms_token}' "
            f"-d '{{\"command\": \"get_all_settings\"}}'",
            "",
            "The site's LAN is TLS only: the LMS on HTTPS, the broker on MQTT over TLS, both certified by the site CA",
            "above. Agents pin its fingerprint when they enrol; another one joins like this (agent.toml):",
            "",
            "  [enroll]",
            f'  url = "{twin.lms_url}"',
            f'  ca_hash = "{twin.ca_hash}"',
            "  # token: POST /api/enrollment-tokens (its answer shows the same ca_hash)",
            "",
            "Ctrl-C stops everything.",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m infra.local", description="Run the ClassTop Fleet local twin.")
    p.add_argument("--api-port", type=int, default=8765)
    p.add_argument("--lms-port", type=int, default=8000)
    p.add_argument("--broker-port", type=int, default=8883, help="the site broker's TLS port")
    p.add_argument("--workdir", type=Path, default=REPO / "var" / "demo")
    p.add_argument("--agents", type=int, default=3, help="number of agents (1-50)")
    p.add_argument("--exit-after-start", action="store_true", help="start, print, stop (for smoke tests)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if not 1 <= args.agents <= 50:
        p.error("--agents must be between 1 and 50")
    options = TwinOptions(
        agent_ids=tuple(f"pc-{i:02d}" for i in range(1, args.agents + 1)),
        ports=TwinPorts(api=args.api_port, lms=args.lms_port, site_broker=args.broker_port),
    )
    stop = threading.Event()

    def on_signal(_signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    twin = Twin(args.workdir, options)
    try:
        twin.start()
    except (MosquittoError, TimeoutError, RuntimeError, OSError) as exc:
        print(f"\nThe local twin did not start: {exc}\n(logs in {args.workdir / 'logs'})", file=sys.stderr)
        return 1
    try:
        print(banner(twin), flush=True)
        if not args.exit_after_start:
            stop.wait()
    finally:
        print("stopping…", flush=True)
        twin.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
