"""PynamoDB models, one module per aggregate, and the functions that bind them to their tables.

Table names come from the settings (``classtop--{tenant}--{stage}--{aggregate}``) and are set at runtime by
:func:`bind`, together with the endpoint (``CLASSTOP_AWS_ENDPOINT``, for moto) and the region. A model loads on first
use (``chalicelib/lazy.py``): a Lambda function imports the tables its path reads and writes, and a model imported
after :func:`bind` binds itself. :data:`MODELS` (every table: the infrastructure, :func:`create_tables`) imports all.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from chalicelib.lazy import exports
from chalicelib.models.base import BaseModel, bind, unbind

if TYPE_CHECKING:
    from chalicelib.config import Settings
    from chalicelib.models.agent import AgentModel
    from chalicelib.models.agent_snapshot import AgentSnapshotModel
    from chalicelib.models.alert import AlertModel
    from chalicelib.models.alert_setting import AlertSettingModel
    from chalicelib.models.audit import AuditModel
    from chalicelib.models.change_mark import ChangeMarkModel
    from chalicelib.models.classtop_client import ClassTopClientModel
    from chalicelib.models.command import AgentCommandModel, CommandModel
    from chalicelib.models.event import EventModel
    from chalicelib.models.label import LabelModel
    from chalicelib.models.log_request import LogRequestModel
    from chalicelib.models.metric_rollup import MetricRollupModel
    from chalicelib.models.rate_limit import RateLimitModel
    from chalicelib.models.rollup import RollupModel
    from chalicelib.models.site import SiteModel
    from chalicelib.models.site_order import SiteOrderModel
    from chalicelib.models.snapshot import SnapshotModel
    from chalicelib.models.token import TokenModel
    from chalicelib.models.upgrade_campaign import UpgradeCampaignModel

    MODELS: tuple[type[BaseModel], ...]

log = logging.getLogger(__name__)

#: every table model (exported name -> its module), in the order :data:`MODELS` lists them
_MODULES = {
    "CommandModel": "command", "AgentModel": "agent", "SiteModel": "site", "TokenModel": "token",
    "ClassTopClientModel": "classtop_client", "SnapshotModel": "snapshot", "AuditModel": "audit",
    "LabelModel": "label", "AgentCommandModel": "command", "EventModel": "event", "RollupModel": "rollup",
    "AgentSnapshotModel": "agent_snapshot", "MetricRollupModel": "metric_rollup", "RateLimitModel": "rate_limit",
    "LogRequestModel": "log_request", "SiteOrderModel": "site_order", "UpgradeCampaignModel": "upgrade_campaign",
    "AlertModel": "alert", "AlertSettingModel": "alert_setting", "ChangeMarkModel": "change_mark",
}
_model = exports(__name__, _MODULES)


def __getattr__(name: str) -> Any:
    if name == "MODELS":
        every = tuple(_model(model) for model in _MODULES)
        globals()["MODELS"] = every
        return every
    return _model(name)


def _all_models() -> tuple[type[BaseModel], ...]:
    every: tuple[type[BaseModel], ...] = __getattr__("MODELS")
    return every


def table_names(settings: Settings) -> dict[str, str]:
    """aggregate -> table name (what the infrastructure template must create)."""
    return {model.AGGREGATE: settings.table_name(model.AGGREGATE) for model in _all_models()}


def create_tables(settings: Settings | None = None, *, wait: bool = True) -> list[str]:
    """Create every table (with its indexes and TTL) that does not exist yet; return the names created.

    For the local twin and tests; in AWS the tables come from the CloudFormation template.
    """
    models = _all_models()
    if settings is not None:
        bind(settings)
    created: list[str] = []
    for model in models:
        if model.exists():
            continue
        model.create_table(wait=wait, ignore_update_ttl_errors=True)
        created.append(model.Meta.table_name)
        log.info("created table %s", model.Meta.table_name)
    return created


__all__ = [
    "MODELS",
    "AgentCommandModel",
    "AgentModel",
    "AgentSnapshotModel",
    "AlertModel",
    "AlertSettingModel",
    "AuditModel",
    "ChangeMarkModel",
    "ClassTopClientModel",
    "CommandModel",
    "EventModel",
    "LabelModel",
    "LogRequestModel",
    "MetricRollupModel",
    "RateLimitModel",
    "RollupModel",
    "SiteModel",
    "SiteOrderModel",
    "SnapshotModel",
    "TokenModel",
    "UpgradeCampaignModel",
    "bind",
    "create_tables",
    "table_names",
    "unbind",
]
