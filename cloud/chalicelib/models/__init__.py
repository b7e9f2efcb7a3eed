"""PynamoDB models, one module per aggregate, and the functions that bind them to their tables.

Table names come from the settings (``classtop--{tenant}--{stage}--{aggregate}``) and are set at runtime by
:func:`bind`, together with the endpoint (``CLASSTOP_AWS_ENDPOINT``, for moto) and the region.
"""

from __future__ import annotations

import logging

from chalicelib.config import Settings
from chalicelib.models.agent import AgentModel
from chalicelib.models.agent_snapshot import AgentSnapshotModel
from chalicelib.models.alert import AlertModel
from chalicelib.models.alert_setting import AlertSettingModel
from chalicelib.models.audit import AuditModel
from chalicelib.models.base import UNBOUND, BaseModel
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

log = logging.getLogger(__name__)

MODELS: tuple[type[BaseModel], ...] = (
    CommandModel, AgentModel, SiteModel, TokenModel, ClassTopClientModel, SnapshotModel, AuditModel, LabelModel,
    AgentCommandModel, EventModel, RollupModel, AgentSnapshotModel,
    MetricRollupModel, RateLimitModel, LogRequestModel, SiteOrderModel, UpgradeCampaignModel, AlertModel,
    AlertSettingModel, ChangeMarkModel,
)


def table_names(settings: Settings) -> dict[str, str]:
    """aggregate -> table name (what the infrastructure template must create)."""
    return {model.AGGREGATE: settings.table_name(model.AGGREGATE) for model in MODELS}


def bind(settings: Settings) -> None:
    """Point every model at its table for ``settings``.

    PynamoDB caches one connection (and botocore client) per model; it is dropped when the table, endpoint or
    region changes, and kept otherwise (making a botocore client costs ~0.15 s).
    """
    for model in MODELS:
        target = (settings.table_name(model.AGGREGATE), settings.aws_endpoint, settings.region)
        if (model.Meta.table_name, model.Meta.host, model.Meta.region) != target:
            model.Meta.table_name, model.Meta.host, model.Meta.region = target
            model._connection = None


def unbind() -> None:
    """Forget every table binding and cached connection (tests)."""
    for model in MODELS:
        model.Meta.table_name, model.Meta.host, model.Meta.region = UNBOUND, None, None
        model._connection = None


def create_tables(settings: Settings | None = None, *, wait: bool = True) -> list[str]:
    """Create every table (with its indexes and TTL) that does not exist yet; return the names created.

    For the local twin and tests; in AWS the tables come from the CloudFormation template.
    """
    if settings is not None:
        bind(settings)
    created: list[str] = []
    for model in MODELS:
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
