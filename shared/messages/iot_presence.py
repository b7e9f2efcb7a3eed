"""IoT Core's lifecycle events (``$aws/events/presence/{connected|disconnected}/{clientId}``): AWS's own format,
which the cloud reads (a site's link hop and why it went down, docs/alerts.md#presence-per-hop) and the twin's IoT
Core stand-in writes (``infra/local/lifecycle_events.py``).

Not one of our messages: AWS defines it (no schema version ``v``), may add fields (unknown ones are ignored, not
refused), and sends it at least once and possibly out of order — ``timestamp`` (IoT Core's clock, ms) and
``versionNumber`` (growing with each connection of a client id; a connection's ``disconnected`` carries its
``connected``'s number) order them (:meth:`LifecycleEvent.order`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.messages.enums import DisconnectReason as DisconnectReason
from shared.messages.mixins import LifecycleReading


class LifecycleEvent(LifecycleReading, BaseModel):
    """One connect or disconnect event. A ``disconnectReason`` AWS adds later reads as ``UNKNOWN``."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, allow_inf_nan=False)

    client_id: str = Field(alias="clientId", min_length=1, max_length=128)
    timestamp: int = Field(ge=0, le=2**53, description="IoT Core's clock, milliseconds since the epoch")
    event_type: Literal["connected", "disconnected"] = Field(alias="eventType")
    session_identifier: str | None = Field(default=None, alias="sessionIdentifier", max_length=128)
    principal_identifier: str | None = Field(default=None, alias="principalIdentifier", max_length=512)
    version_number: int = Field(default=0, alias="versionNumber", ge=0, le=2**53)
    ip_address: str | None = Field(default=None, alias="ipAddress", max_length=64)
    client_initiated_disconnect: bool | None = Field(default=None, alias="clientInitiatedDisconnect")
    disconnect_reason: str | None = Field(default=None, alias="disconnectReason", max_length=64)

    def to_wire(self) -> dict[str, object]:
        """The JSON object as IoT Core publishes it (AWS's field names; absent fields left out)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
