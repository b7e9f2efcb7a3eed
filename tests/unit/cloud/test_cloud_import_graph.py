"""Each Lambda function imports only what its own path needs (docs/deploy.md#cold-starts): what a fresh interpreter
holds in ``sys.modules`` after resolving a function's handler as Lambda does, and after the container builds one
service. ``bench/cold_start.py`` has the times; this guards the graph."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

#: loaded only by the paths that need them: a client (boto3), a user-pool token (joserfc, cryptography)
HEAVY = ("boto3", "s3transfer", "joserfc", "cryptography")
#: the message and body schemas' library: the API loads it with its first body, a rule function never
SCHEMAS = ("pydantic", "pydantic_core", "shared.messages.base")


def modules_after(code: str, *, lambda_env: bool = True, handler: str | None = None) -> set[str]:
    """``sys.modules`` of a fresh interpreter (the package root as Lambda lays it out) after running ``code``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLASSTOP_", "AWS_", "PYTHON"))}
    env["PYTHONPATH"] = f"{ROOT / 'cloud'}{os.pathsep}{ROOT}"
    env.update({"CLASSTOP_TENANT": "demo", "CLASSTOP_STAGE": "test", "AWS_DEFAULT_REGION": "us-east-1"})
    if lambda_env:
        env["AWS_LAMBDA_FUNCTION_NAME"] = "classtop-test"
    if handler is not None:
        env["_HANDLER"] = handler  # as Lambda sets it
    script = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT / "cloud", capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return set(loaded)


def under(modules: set[str], *packages: str) -> set[str]:
    return {m for m in modules if any(m == p or m.startswith(f"{p}.") for p in packages)}


def test_a_rule_functions_handler_loads_no_api_service_other_model_or_client() -> None:
    loaded = modules_after("import importlib\n"
                           "getattr(importlib.import_module('chalicelib.handlers'), 'site_heartbeat')",
                           handler="chalicelib.handlers.site_heartbeat")
    assert "chalicelib.handlers.rules" in loaded  # the probe does resolve the handler
    assert under(loaded, "chalicelib.api") == set()
    assert under(loaded, "chalicelib.services") == set()
    # the change marks every rule function defers (chalicelib.repositories.change_mark), no aggregate's table
    assert under(loaded, "chalicelib.models") == {"chalicelib.models", "chalicelib.models.base",
                                                  "chalicelib.models.change_mark"}
    assert under(loaded, *HEAVY) == set()
    # nor pydantic: a rule function decodes with the msgspec mirrors (shared.messages.structs), which load with its
    # first event (test_cloud_rule_functions_without_pydantic.py: nor then); nor a schedule that decodes no message
    assert under(loaded, *SCHEMAS) == set()
    sweeper = modules_after("import importlib\n"
                            "getattr(importlib.import_module('chalicelib.handlers'), 'expire_commands')",
                            handler="chalicelib.handlers.expire_commands")
    assert under(sweeper, *SCHEMAS) == set()
    assert {m for m in under(loaded, "shared.messages") if m != "shared.messages"} <= {
        "shared.messages.base", "shared.messages.checks", "shared.messages.schema_builds"}


def test_the_api_function_loads_no_service_body_schema_client_or_token_library() -> None:
    loaded = modules_after("import app", handler="app.app")
    assert "chalicelib.api.agents" in loaded
    assert under(loaded, *HEAVY) == set()
    # the routes declare with constants and types from domain/, never a service's module (the container builds those)
    assert under(loaded, "chalicelib.services") <= {"chalicelib.services"}
    assert under(loaded, "chalicelib.repositories") <= {"chalicelib.repositories", "chalicelib.repositories.base",
                                                        "chalicelib.repositories.change_mark"}
    # body schemas load with their route's first call: not the bodies, nor the command catalogue and ClassTop wire
    assert under(loaded, "chalicelib.api.bodies", "shared.commands", "shared.classtop_wire", "shared.cctv") == set()
    # nor pydantic: the routes declare with domain dataclasses and the vocabularies (shared.messages.enums)
    assert under(loaded, *SCHEMAS, "shared.log_export") == set()


def test_a_routes_first_call_loads_its_body_schema_only() -> None:
    code = """
from chalicelib.api import ROUTES
route = next(r for r in ROUTES if (r.method, r.path) == ("POST", "/api/alert-silences"))
assert route.body is not None and route.body.__name__ == "SilenceBody"
"""
    loaded = modules_after(f"import app\n{code}")
    assert "chalicelib.api.bodies.alerts" in loaded
    assert under(loaded, "chalicelib.api.bodies") == {"chalicelib.api.bodies", "chalicelib.api.bodies.alerts",
                                                      "chalicelib.api.bodies.request_body"}


def test_the_container_builds_a_service_with_its_own_models_only_and_binds_them() -> None:
    code = """
from chalicelib import container
services = container.get()
before = set(sys.modules)
services.agents
from chalicelib.models.agent import AgentModel
assert AgentModel.Meta.table_name == services.settings.table_name("agent"), AgentModel.Meta.table_name
assert AgentModel.Meta.region == "us-east-1"
"""
    loaded = modules_after(code, lambda_env=False)
    assert {"chalicelib.services.agents", "chalicelib.models.agent", "chalicelib.models.site"} <= loaded
    assert under(loaded, "chalicelib.models.alert", "chalicelib.models.audit", "chalicelib.models.command",
                 "chalicelib.services.alerts", "chalicelib.services.commands") == set()
    assert under(loaded, *HEAVY) == set()


def test_every_model_still_listed_for_the_infrastructure() -> None:
    code = """
import pkgutil, importlib
from chalicelib import models
from chalicelib.models import base
listed = models.MODELS
for module in pkgutil.iter_modules(models.__path__):
    importlib.import_module(f"chalicelib.models.{module.name}")
assert set(listed) == set(base.defined()), set(base.defined()) - set(listed)
"""
    loaded = modules_after(code, lambda_env=False)
    assert {"chalicelib.models.alert", "chalicelib.models.upgrade_campaign"} <= loaded


def test_a_rule_function_loaded_alone_as_lambda_does_logs_json_and_counts_its_metrics() -> None:
    """Lambda imports ``chalicelib.handlers`` for a rule function, never ``app.py``: the function still gets the JSON
    logs and the metrics (the app's middleware) — a dropped event is one JSON log line and one EMF document."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLASSTOP_", "AWS_", "PYTHON"))}
    env.update({"PYTHONPATH": f"{ROOT / 'cloud'}{os.pathsep}{ROOT}", "AWS_LAMBDA_FUNCTION_NAME": "classtop-rule",
                "CLASSTOP_TENANT": "demo", "CLASSTOP_STAGE": "test", "AWS_DEFAULT_REGION": "us-east-1",
                # the app's EMF metrics are on only with the operations dashboard (chalicelib.observability)
                "CLASSTOP_APP_METRICS": "on"})
    code = """
import importlib, json, sys
handler = getattr(importlib.import_module("chalicelib.handlers"), "site_heartbeat")
class Context:
    aws_request_id, function_name, memory_limit_in_mb = "req-1", "classtop-rule", 128
answer = handler({"topic_site_id": "s1", "message_base64": "not base64!"}, Context())
assert answer["ok"] is False, answer
assert "app" not in sys.modules
"""
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT / "cloud", capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    documents = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    logs = [d for d in documents if d.get("level") == "WARNING"]
    assert logs and logs[0]["function_request_id"] == "req-1" and logs[0]["tenant"] == "demo", documents
    assert "dropped event from site 's1'" in logs[0]["message"]
    metrics = [d for d in documents if "_aws" in d]
    assert metrics and metrics[0]["RuleEventsDropped"] == [1.0], documents


def test_every_routes_body_schema_names_a_model_of_its_areas_module() -> None:
    from pydantic import BaseModel

    from chalicelib.api import ROUTES
    from chalicelib.api.routes import BodySchema

    with_bodies = [route for route in ROUTES if route.schema is not None]
    assert len(with_bodies) > 30
    for route in with_bodies:
        assert route.schema is not None and route.body is not None
        assert issubclass(route.body, BaseModel) and route.body.__name__ == route.schema.name, route.path
        assert route.schema.module.startswith("chalicelib.api.bodies."), route.path
    with pytest.raises(TypeError, match="not a body schema"):
        BodySchema("chalicelib.api.bodies.alerts", "MAX_SILENCE_S").load()
