"""An IoT-rule function never loads pydantic (docs/deploy.md#cold-starts): each decodes its message with the msgspec
mirror (``shared.messages.structs``) and its service, repositories and tables take the mirror. Each function, in a
fresh interpreter laid out as Lambda's package (the environment Lambda gives it), handles one valid message of its
kind against a moto server holding the site (its first event: the site's heartbeat registers ``s1`` and its agent
before the others run), and ``sys.modules`` then holds no pydantic."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from bench.cold_start import TENANT, Function, events, functions, lambda_env  # noqa: E402

#: what the child runs: resolve the handler as Lambda does, handle the event, report what loaded pydantic
CHILD = """
import importlib, json, sys, traceback
importer = []
class Watch:
    def find_spec(self, name, path=None, target=None):
        if name == "pydantic" and not importer:
            importer.append("".join(traceback.format_stack(limit=25)))
        return None
sys.meta_path.insert(0, Watch())
spec, event = sys.argv[1], json.loads(sys.argv[2])
module, _, attribute = spec.rpartition(".")
handler = getattr(importlib.import_module(module), attribute)
class Context:
    aws_request_id, function_name, memory_limit_in_mb = "test-request", spec, 128
    def get_remaining_time_in_millis(self): return 30000
answer = handler(event, Context())
print(json.dumps({"answer": answer, "pydantic": sorted(m for m in sys.modules if m.split(".")[0] in
                  ("pydantic", "pydantic_core")), "importer": importer[0] if importer else None}, default=str))
"""


@pytest.fixture(scope="module")
def moto_env() -> Iterator[dict[str, str]]:
    """A moto server with the cloud's tables; the environment a function needs to reach it."""
    import logging

    from moto.server import ThreadedMotoServer

    from infra.local.cloud import cloud_environment
    from infra.local.ports import free_port

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        env = cloud_environment(TENANT, "cold", f"http://127.0.0.1:{port}")
        done = subprocess.run([sys.executable, "-c", "from chalicelib.config import Settings\n"
                               "from chalicelib.models import create_tables\n"
                               "create_tables(Settings.from_env())"],
                              env=lambda_env(functions()[0], env), cwd=ROOT / "cloud", capture_output=True, text=True,
                              timeout=120, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        yield env
    finally:
        server.stop()


def handle(function: Function, env: dict[str, str], event: Any) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", CHILD, function.handler, json.dumps(event)],
                          env=lambda_env(function, env), cwd=ROOT / "cloud", capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


RULES = ["site_heartbeat", "command_results", "site_events", "site_sync", "site_metrics", "agents_retired",
         "upgrade_reports", "site_alerts", "site_presence"]  # fmt: skip


def test_every_rule_function_is_here() -> None:
    from chalicelib.handlers import RULE_HANDLERS

    assert sorted(RULE_HANDLERS) == sorted(RULES)


def test_no_rule_function_loads_pydantic_handling_its_first_event(moto_env: dict[str, str]) -> None:
    by_name = {f.name: f for f in functions()}
    crafted = events()
    outcomes, loaded = {}, {}
    for name in RULES:  # the heartbeat first: it registers site s1 and its agent pc-1
        report = handle(by_name[name], moto_env, crafted[name])
        outcomes[name] = report["answer"]
        if report["pydantic"]:
            loaded[name] = report["importer"]
    assert not loaded, "\n\n".join(f"{name} loaded pydantic, first from:\n{stack}" for name, stack in loaded.items())
    assert {n: a for n, a in outcomes.items() if a.get("ok") is not True} == {}
    # the events went through their services to their tables (a command and a campaign the tables do not hold are
    # ignored after the reads that find so)
    assert outcomes["site_heartbeat"]["agents_written"] == 1
    assert outcomes["site_events"]["stored"] == 1
    assert outcomes["site_sync"]["applied"] == 1
    assert outcomes["site_metrics"]["stored"] == 1
    assert outcomes["agents_retired"]["cleaned"] == ["pc-1"]
    assert (outcomes["site_alerts"]["applied"], outcomes["site_alerts"]["notified"]) == (1, 1)
    assert outcomes["site_presence"]["applied"] is True
    assert outcomes["command_results"]["ignored"] == 1
    assert outcomes["upgrade_reports"]["refused"] is True


def test_a_bad_message_is_refused_by_the_mirror_as_by_the_model(moto_env: dict[str, str]) -> None:
    """The mirror refuses what the pydantic model refuses, with the same error code (bad_payload)."""
    from bench.cold_start import rule_event

    heartbeat = next(f for f in functions() if f.name == "site_heartbeat")
    bad = rule_event("s1", {"type": "site_heartbeat", "v": 1, "timestamp": 1.0, "lms_version": "1",
                            "agents": [{"agent_id": "pc 1", "status": "online"}]})  # fmt: skip
    report = handle(heartbeat, moto_env, bad)
    assert report["answer"]["ok"] is False
    assert report["answer"]["error"]["code"] == "bad_payload"
    assert "SiteHeartbeat" in report["answer"]["error"]["message"]
    assert report["pydantic"] == []
