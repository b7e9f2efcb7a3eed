"""What the infrastructure reads from the cloud app (``cloud/``): its table models, settings and functions.

The Chalice project imports ``chalicelib`` as a top-level package, so ``cloud/`` goes on ``sys.path``. Nothing
here connects to AWS or reads the environment.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.aws.errors import BuildError

REPO_DIR = Path(__file__).resolve().parents[2]
CLOUD_DIR = REPO_DIR / "cloud"
SHARED_DIR = REPO_DIR / "shared"

#: the logical id and handler Chalice gives the function serving the HTTP API
API_HANDLER = "APIHandler"
#: the Chalice stage ``chalice package`` builds (its settings in cloud/.chalice/config.json)
CHALICE_STAGE = "dev"


@dataclass(frozen=True, slots=True)
class Function:
    """One Lambda function of the Chalice app as ``chalice package`` names it."""

    name: str
    logical_id: str
    handler: str  # "module.attribute", relative to the package root


def chalice_config() -> dict[str, Any]:
    """cloud/.chalice/config.json."""
    try:
        config: dict[str, Any] = json.loads((CLOUD_DIR / ".chalice" / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BuildError(f"cannot read cloud/.chalice/config.json: {exc}") from exc
    return config


def api_gateway_stage() -> str:
    """The API Gateway stage Chalice deploys the API to (``api_gateway_stage``, Chalice's default ``api``)."""
    config = chalice_config()
    stage = config.get("stages", {}).get(CHALICE_STAGE, {})
    return str(stage.get("api_gateway_stage") or config.get("api_gateway_stage") or "api")


def ensure_importable() -> None:
    if str(CLOUD_DIR) not in sys.path:
        sys.path.insert(0, str(CLOUD_DIR))


def models() -> tuple[Any, ...]:
    """``chalicelib.models.MODELS``: one PynamoDB model per table."""
    ensure_importable()
    from chalicelib.models import MODELS

    return tuple(MODELS)


def table_name(aggregate: str, tenant: str, stage: str) -> str:
    """The table name the cloud plane uses (``chalicelib.config.Settings.table_name``)."""
    ensure_importable()
    from chalicelib.config import Settings

    return Settings(tenant=tenant, stage=stage, region="us-east-1").table_name(aggregate)


def chalice_app() -> Any:
    ensure_importable()
    try:
        import app as cloud_app_module
    except Exception as exc:  # any import failure of the app is a build failure with its reason
        raise BuildError(f"cannot import the Chalice app cloud/app.py: {type(exc).__name__}: {exc}") from exc
    if not str(getattr(cloud_app_module, "__file__", "")).startswith(str(CLOUD_DIR)):
        raise BuildError(f"module 'app' resolved to {cloud_app_module.__file__}, not cloud/app.py")
    return cloud_app_module.app


def functions() -> list[Function]:
    """The API handler, every ``@app.lambda_function`` and every event-source function (``@app.schedule``,
    ``@app.on_sns_message``...) with the logical ids ``chalice package`` gives them."""
    from chalice.utils import to_cfn_resource_name

    app = chalice_app()
    result = [Function("api_handler", API_HANDLER, "app.app")] if app.routes else []
    for fn in [*app.pure_lambda_functions, *app.event_sources]:
        result.append(Function(fn.name, to_cfn_resource_name(fn.name), fn.handler_string))
    if getattr(app, "websocket_handlers", None):
        raise BuildError("websocket handlers are not supported by the infrastructure generator yet")
    return result


def handler_exists(handler: str) -> bool:
    """Whether ``module.attribute`` (a Lambda ``Handler``) names a callable in the cloud app."""
    import importlib

    ensure_importable()
    module_name, _, attribute = handler.rpartition(".")
    if not module_name:
        return False
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return False
    return callable(getattr(module, attribute, None))
