"""Message schemas (pydantic v2, ``extra="forbid"``, schema version ``v``), one module per family."""

from shared.messages.agent import (
    AgentKind,
    DiskUsage,
    Event,
    Heartbeat,
    Metrics,
    Presence,
    Severity,
    StateData,
    StateUpdate,
    Status,
)
from shared.messages.base import (
    MAX_PAYLOAD_BYTES,
    SCHEMA_VERSION,
    Message,
    Strict,
    decode,
    describe_validation_error,
    encode,
    load_json,
    validate,
)
from shared.messages.command import TERMINAL_STATUSES, Command, CommandStatus, Response
from shared.messages.site import AgentPresence, AgentResult, CommandResults, SiteCommand, SiteHeartbeat

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "SCHEMA_VERSION",
    "TERMINAL_STATUSES",
    "AgentKind",
    "AgentPresence",
    "AgentResult",
    "Command",
    "CommandResults",
    "CommandStatus",
    "DiskUsage",
    "Event",
    "Heartbeat",
    "Message",
    "Metrics",
    "Presence",
    "Response",
    "Severity",
    "SiteCommand",
    "SiteHeartbeat",
    "StateData",
    "StateUpdate",
    "Status",
    "Strict",
    "decode",
    "describe_validation_error",
    "encode",
    "load_json",
    "validate",
]
