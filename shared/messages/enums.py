"""The string vocabularies of the messages (statuses, presence, severity, an alert's state and target), without
pydantic: the models of ``shared.messages``, the agent's msgspec mirrors (``shared.messages.structs``) and the cloud's
domain use the same ones."""

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


#: Progress order of the non-terminal statuses; every terminal status ranks above them all (statuses only move
#: forward: a status is applied only when it ranks above the one stored).
_STATUS_RANK = {
    CommandStatus.PENDING: 0,
    CommandStatus.QUEUED: 1,
    CommandStatus.DELIVERED: 2,
    CommandStatus.RUNNING: 3,
}
_TERMINAL_RANK = 4


def status_rank(status: CommandStatus) -> int:
    return _TERMINAL_RANK if status.terminal else _STATUS_RANK[status]


class CommandHop(StrEnum):
    """The hops of one cloud command on its way to one agent and back, in order (``GET /api/commands/{id}``)."""

    CREATED = "created"  # the cloud stored it (the API call)
    SENT = "sent"  # the cloud published the site's message to IoT Core
    RECEIVED = "received"  # the LMS took the site's message
    QUEUED = "queued"  # first waiting: in the LMS's offline queue, or on the agent for a command slot
    DELIVERED = "delivered"  # the LMS published it to the agent (QoS 1)
    STARTED = "started"  # the agent started it (its ``running`` command.state event; agent clock)
    FINISHED = "finished"  # the LMS received the agent's answer
    STORED = "stored"  # the cloud stored the terminal result


#: The hops a site reports (in ``AgentResult.hops``); the cloud sets the others itself.
SITE_HOPS = frozenset(
    {CommandHop.RECEIVED, CommandHop.QUEUED, CommandHop.DELIVERED, CommandHop.STARTED, CommandHop.FINISHED}
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


# an alert's state (``shared.messages.alert.AlertRecord``); no docstring: it would enter the JSON schemas
class AlertState(StrEnum):
    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


# what an alert is about (``shared.messages.alert.AlertTarget``)
class TargetKind(StrEnum):
    AGENT = "agent"
    CAMERA = "camera"
    SITE = "site"


#: an upgrade campaign's states at a site that end it (``shared.messages.upgrades.CampaignSiteState``)
TERMINAL_SITE_STATES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled", "interrupted", "refused"})


# what a snapshot entry holds (``shared.messages.sync.SnapshotEntry``)
class SnapshotKind(StrEnum):
    SETTINGS = "settings"
    CLASSTOP = "classtop"
    CCTV_CONFIG = "cctv_config"


class DisconnectReason(StrEnum):
    """``disconnectReason`` of IoT Core's lifecycle events, as AWS documents it
    (developerguide/life-cycle-events.html; ``shared.messages.iot_presence``)."""

    AUTH_ERROR = "AUTH_ERROR"
    CLIENT_INITIATED_DISCONNECT = "CLIENT_INITIATED_DISCONNECT"
    CLIENT_ERROR = "CLIENT_ERROR"
    CONNECTION_LOST = "CONNECTION_LOST"
    DUPLICATE_CLIENTID = "DUPLICATE_CLIENTID"
    FORBIDDEN_ACCESS = "FORBIDDEN_ACCESS"
    MQTT_KEEP_ALIVE_TIMEOUT = "MQTT_KEEP_ALIVE_TIMEOUT"
    SERVER_ERROR = "SERVER_ERROR"
    SERVER_INITIATED_DISCONNECT = "SERVER_INITIATED_DISCONNECT"
    API_INITIATED_DISCONNECT = "API_INITIATED_DISCONNECT"
    THROTTLED = "THROTTLED"
    WEBSOCKET_TTL_EXPIRATION = "WEBSOCKET_TTL_EXPIRATION"
    CUSTOMAUTH_TTL_EXPIRATION = "CUSTOMAUTH_TTL_EXPIRATION"
    UNKNOWN = "UNKNOWN"
