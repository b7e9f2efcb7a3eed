"""The string vocabularies of the messages (statuses, presence, severity), without pydantic: the models of
``shared.messages`` and the agent's msgspec mirrors (``edge.agent.structs``) use the same ones."""

from __future__ import annotations

from enum import StrEnum


class CommandStatus(StrEnum):
    """Lifecycle of a command (per agent). Terminal: succeeded, failed, timed_out, expired, rejected."""

    PENDING = "pending"  # stored, not yet handed to the site
    QUEUED = "queued"  # at the LMS, waiting for the agent (offline, or concurrency limit)
    DELIVERED = "delivered"  # the agent has it
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    EXPIRED = "expired"  # never delivered before its TTL
    REJECTED = "rejected"  # refused by policy or validation, never run

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset(
    {
        CommandStatus.SUCCEEDED,
        CommandStatus.FAILED,
        CommandStatus.TIMED_OUT,
        CommandStatus.EXPIRED,
        CommandStatus.REJECTED,
    }
)


class Presence(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


class AgentKind(StrEnum):
    AGENT = "agent"  # our MQTT agent
    LEGACY = "legacy"  # an unchanged ClassTop desktop client over WebSocket


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"
