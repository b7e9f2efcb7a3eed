"""Messages an agent publishes to its LMS on the site broker (topics: ``ct/agent/{id}/up/...``).

The topic carries the agent's identity, so payloads do not repeat it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.messages.base import JsonObject, Message, Strict

# the vocabularies live in shared.messages.enums (no pydantic: the agent's mirrors use them); named here as before
from shared.messages.enums import AgentKind as AgentKind
from shared.messages.enums import Presence as Presence
from shared.messages.enums import Severity as Severity


class Status(Message):
    """Retained presence. ``offline`` with ``reason="lost"`` is the Last Will."""

    type: Literal["status"] = "status"
    state: Presence
    timestamp: float = Field(ge=0, description="wall-clock seconds since the epoch")
    reason: Literal["start", "stop", "lost"] | None = None
    version: str | None = Field(default=None, max_length=64)
    hostname: str | None = Field(default=None, max_length=255)
    #: the agent's configuration version (a hash of its configuration file); absent from older agents
    config_version: str | None = Field(default=None, max_length=64)


class Heartbeat(Message):
    """Seed shape ``{"type":"heartbeat","timestamp"}``."""

    type: Literal["heartbeat"] = "heartbeat"
    timestamp: float = Field(ge=0)
    seq: int | None = Field(default=None, ge=0)


class DiskUsage(Strict):
    mount: str = Field(max_length=512)
    total: int = Field(ge=0)
    used: int = Field(ge=0)
    percent: float = Field(ge=0, le=100)


class Metrics(Message):
    """A cheap psutil sample. Byte counts in bytes, rates in bytes per second."""

    type: Literal["metrics"] = "metrics"
    timestamp: float = Field(ge=0)
    cpu_percent: float = Field(ge=0, le=100)
    load: tuple[float, float, float] | None = None
    mem_total: int = Field(ge=0)
    mem_used: int = Field(ge=0)
    mem_percent: float = Field(ge=0, le=100)
    swap_percent: float | None = Field(default=None, ge=0, le=100)
    disks: list[DiskUsage] = Field(default_factory=list, max_length=64)
    net_rx_bps: float | None = Field(default=None, ge=0)
    net_tx_bps: float | None = Field(default=None, ge=0)
    uptime_s: float | None = Field(default=None, ge=0)
    process_count: int | None = Field(default=None, ge=0)


class StateData(Strict):
    """Seed ``state_update.data``: settings (all values strings, as ClassTop stores them) and more."""

    settings: dict[str, str] | None = None
    cctv_state: JsonObject | None = None
    inventory: JsonObject | None = None


class StateUpdate(Message):
    """Seed shape ``{"type":"state_update","data":{...}}``."""

    type: Literal["state_update"] = "state_update"
    data: StateData


class Event(Message):
    """Something that happened on an agent (camera frozen, disk filling, exec started...)."""

    type: Literal["event"] = "event"
    timestamp: float = Field(ge=0)
    kind: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_.]+$")
    severity: Severity = Severity.INFO
    message: str = Field(default="", max_length=2048)
    #: free-form detail, nested at most ``MAX_DATA_DEPTH`` levels (its size is bounded by the message's)
    data: JsonObject = Field(default_factory=dict)
