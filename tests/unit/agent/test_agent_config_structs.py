"""The msgspec mirrors of the agent's configuration (``edge.agent.config_structs``) against its pydantic models
(``edge.agent.config_models``): the committed module is what the writer makes of today's models, it loads no
pydantic, a table pydantic refuses the mirror refuses too, and one both accept comes out the same (the same
canonical JSON, so the same ``config_version``)."""

from __future__ import annotations

import ast
import subprocess
import sys
from typing import Any

import msgspec
import pytest
from pydantic import ValidationError

from edge.agent import config_structs
from edge.agent.config import ConfigError, parse_config, pydantic_config
from edge.agent.config_models import AgentConfig
from edge.agent.config_struct_writer import CONFIG_TARGET, render_config
from shared.messages.struct_writer import formatted

KEY = "MCowBQYDK2VwAyEA" + "A" * 28  # 44 characters: not a key, the rule says why
FULL: dict[str, Any] = {
    "agent_id": "pc-1", "heartbeat_s": 5, "metrics_s": 15.5, "state_dir": "/var/lib/x", "connect_wait_s": 1,
    "mqtt": {"host": "broker.lan", "port": 8883, "password": "pw", "keepalive_s": 30,
             "tls": {"ca_file": "/etc/ca.pem"}, "reconnect_min_s": 0.5, "reconnect_max_s": 15},
    "exec": {"mode": "allowlist", "allowlist": ["uptime", "/usr/bin/df", "re:df( -h)?"], "env_allowlist": ["BACKUP"],
             "max_output_bytes": 65536, "max_timeout_s": 60, "max_concurrent": 2, "max_queued": 1},
    "log": {"level": "DEBUG", "format": "json", "stderr": False, "max_bytes": 65536, "backups": 2},
    "camera": {"enabled": True, "stream_port": 0, "recordings_dir": "/srv/rec"},
    "outbox": {"max_items": 100}, "classtop": {"import_path": "/srv/classtop.db", "sync_interval_s": 60},
    "processes": {"interval_s": 0, "top": 5},
    "simulated_disk": {"percent_file": "/tmp/p"}, "event_spool": {"directory": "/tmp/e", "interval_s": 1},
    "enroll": {"url": "https://lms.lan:8000", "ca_hash": "SHA256:" + "AB" * 32},
}  # fmt: skip
#: values each field of each table is tried with
PROBES: list[Any] = [
    None, True, 0, 1, -1, 5, 9.5, 10, 0.05, 1e9, float("inf"), float("nan"), "", "x", "1", "/abs", "rel/path",
    "uptime", "re:(", "bad/name", "/usr/bin/", "PATH", "LANG", "http://lms.lan", "http://127.0.0.1:8000",
    "sha256:" + "0" * 64, "sha256:00", "broker.lan", "127.0.0.1", "json", "yaml", "any", "never", [], ["ls"],
    ["re:["], {}, {"x": 1}, {"cert_file": "/c"}, {"cert_file": "/c", "key_file": "/k"}, KEY,
]  # fmt: skip


def variants() -> list[dict[str, Any]]:
    """The full table; each top-level and each second-level key removed and set to each probe; unknown keys."""
    out = [FULL, {**FULL, "extra": 1}, {**FULL, "mqtt": {**FULL["mqtt"], "extra": 1}}]
    out.append({**FULL, "upgrade": {"root": "/opt/agent", "release_public_key": KEY}})
    for key, value in FULL.items():
        out.append({k: v for k, v in FULL.items() if k != key})
        out += [{**FULL, key: probe} for probe in PROBES]
        if isinstance(value, dict):
            for sub in value:
                out.append({**FULL, key: {k: v for k, v in value.items() if k != sub}})
                out += [{**FULL, key: {**value, sub: probe}} for probe in PROBES]
    return out


def outcome_pydantic(data: dict[str, Any]) -> Any:
    try:
        return AgentConfig.model_validate(data, context={"env": {}}).model_dump_json(round_trip=False)
    except ValidationError:
        return "refused"


def outcome_mirror(data: dict[str, Any]) -> Any:
    try:
        return config_structs.dump_json(config_structs.load(data, {})).decode()
    except (msgspec.ValidationError, ValueError):
        return "refused"


def test_the_committed_module_is_what_the_writer_makes() -> None:
    assert CONFIG_TARGET.read_text() == formatted(render_config(), CONFIG_TARGET), (
        "stale: run python -m edge.agent.config_struct_writer"
    )


def test_the_mirrors_load_without_pydantic() -> None:
    tree = ast.parse(CONFIG_TARGET.read_text())
    imported = sorted({n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
                      | {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names})  # fmt: skip
    code = (f"import sys; import {', '.join(m for m in imported if m != '__future__')}, edge.agent.config; "
            "print(sorted(m for m in sys.modules if 'pydantic' in m))")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=CONFIG_TARGET.parents[2])  # fmt: skip
    assert done.stdout.strip() == "[]"


def test_what_pydantic_refuses_the_mirror_refuses_and_what_both_take_is_the_same() -> None:
    differ, stricter, tried = [], [], 0
    for data in variants():
        want, got = outcome_pydantic(data), outcome_mirror(data)
        tried += 1
        if got == "refused" and want != "refused":
            stricter.append(data)  # pydantic's lax coercions ("1" for 1, 1 for True): parse_config asks pydantic
        elif got != want:
            differ.append((data, want, got))
    assert not differ, f"{len(differ)} of {tried} differ, the first: {differ[0]}"
    assert outcome_pydantic(FULL) != "refused" and tried > 500
    for data in stricter:  # the loader takes them as pydantic does
        assert config_structs.dump_json(parse_config(data, env={})).decode() == outcome_pydantic(data)


def test_a_refused_table_gets_the_pydantic_message() -> None:
    bad = {**FULL, "exec": {**FULL["exec"], "allowlist": ["bad/name"]}, "heartbeat_s": 0}
    with pytest.raises(ConfigError) as mirror:
        parse_config(bad, env={})
    with pytest.raises(ConfigError) as model:
        pydantic_config(bad, env={})
    assert str(mirror.value) == str(model.value)
    assert "heartbeat_s" in str(mirror.value) and "allowlist entry 'bad/name'" in str(mirror.value)
