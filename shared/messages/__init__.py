"""Message schemas (pydantic v2, ``extra="forbid"``, schema version ``v``), one module per family.

Every public name below is importable from here as before, but a family's module loads only when one of its names
is first used (PEP 562 ``__getattr__``): the agent never loads the site, sync, retirement or upgrade-campaign
models it does not handle (edge.agent.footprint has the measurements).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.messages.agent import (
        DiskUsage,
        Event,
        Heartbeat,
        Metrics,
        StateData,
        StateUpdate,
        Status,
    )
    from shared.messages.base import (
        SCHEMA_VERSION,
        Message,
        Strict,
        decode,
        describe_validation_error,
        encode,
        validate,
    )
    from shared.messages.checks import MAX_PAYLOAD_BYTES, load_json
    from shared.messages.command import Command, Response
    from shared.messages.enums import TERMINAL_STATUSES, AgentKind, CommandStatus, Presence, Severity
    from shared.messages.logs import LogRequest
    from shared.messages.retirement import AgentRetire, AgentsRetired, RetiredAgentEntry
    from shared.messages.site import (
        AgentEvent,
        AgentPresence,
        AgentResult,
        CommandResults,
        SiteCommand,
        SiteEvents,
        SiteHeartbeat,
    )
    from shared.messages.sync import (
        MAX_ROLLUPS,
        MAX_SNAPSHOT_ENTRIES,
        ROLLUP_HOUR_S,
        ROLLUP_PERIOD_S,
        AgentSnapshots,
        MetricRollup,
        MetricRollups,
        SnapshotEntry,
        SnapshotKind,
        snapshot_hash,
        split_snapshots,
    )
    from shared.messages.upgrades import CampaignAgentReport, UpgradeCampaignReport, UpgradeOrder

#: each public name, and the module of this package it lives in
_HOMES: dict[str, str] = {
    "AgentKind": "enums",
    "DiskUsage": "agent",
    "Event": "agent",
    "Heartbeat": "agent",
    "Metrics": "agent",
    "Presence": "enums",
    "Severity": "enums",
    "StateData": "agent",
    "StateUpdate": "agent",
    "Status": "agent",
    "MAX_PAYLOAD_BYTES": "checks",
    "SCHEMA_VERSION": "base",
    "Message": "base",
    "Strict": "base",
    "decode": "base",
    "describe_validation_error": "base",
    "encode": "base",
    "load_json": "checks",
    "validate": "base",
    "TERMINAL_STATUSES": "enums",
    "Command": "command",
    "CommandStatus": "enums",
    "Response": "command",
    "LogRequest": "logs",
    "AgentRetire": "retirement",
    "AgentsRetired": "retirement",
    "RetiredAgentEntry": "retirement",
    "AgentEvent": "site",
    "AgentPresence": "site",
    "AgentResult": "site",
    "CommandResults": "site",
    "SiteCommand": "site",
    "SiteEvents": "site",
    "SiteHeartbeat": "site",
    "MAX_ROLLUPS": "sync",
    "MAX_SNAPSHOT_ENTRIES": "sync",
    "ROLLUP_HOUR_S": "sync",
    "ROLLUP_PERIOD_S": "sync",
    "AgentSnapshots": "sync",
    "MetricRollup": "sync",
    "MetricRollups": "sync",
    "SnapshotEntry": "sync",
    "SnapshotKind": "sync",
    "snapshot_hash": "sync",
    "split_snapshots": "sync",
    "CampaignAgentReport": "upgrades",
    "UpgradeCampaignReport": "upgrades",
    "UpgradeOrder": "upgrades",
}

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "MAX_ROLLUPS",
    "MAX_SNAPSHOT_ENTRIES",
    "ROLLUP_HOUR_S",
    "ROLLUP_PERIOD_S",
    "SCHEMA_VERSION",
    "TERMINAL_STATUSES",
    "AgentEvent",
    "AgentKind",
    "AgentPresence",
    "AgentResult",
    "AgentRetire",
    "AgentSnapshots",
    "AgentsRetired",
    "CampaignAgentReport",
    "Command",
    "CommandResults",
    "CommandStatus",
    "DiskUsage",
    "Event",
    "Heartbeat",
    "LogRequest",
    "Message",
    "MetricRollup",
    "MetricRollups",
    "Metrics",
    "Presence",
    "Response",
    "RetiredAgentEntry",
    "Severity",
    "SiteCommand",
    "SiteEvents",
    "SiteHeartbeat",
    "SnapshotEntry",
    "SnapshotKind",
    "StateData",
    "StateUpdate",
    "Status",
    "Strict",
    "UpgradeCampaignReport",
    "UpgradeOrder",
    "decode",
    "describe_validation_error",
    "encode",
    "load_json",
    "snapshot_hash",
    "split_snapshots",
    "validate",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
