"""``[classtop]``: the unchanged ClassTop desktop clients: who may join, and how much they may do."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ClassTopPolicy = Literal["open", "approval"]


class ClassTopSettings(BaseModel):
    """``[classtop]``: unchanged ClassTop desktop clients (``/ws/{uuid}`` and the sync endpoints, which they call
    without credentials): who may join, and how much one source address or one connection may do."""

    model_config = ConfigDict(extra="forbid")

    client_policy: ClassTopPolicy = Field(
        default="approval",
        description="open: a new ClassTop client is approved at once; approval: it is kept pending (not "
        "commandable, not reported to the cloud, its sync refused) until a site admin approves it",
    )
    max_clients: int = Field(
        default=2000, ge=1, le=100_000, description="ClassTop clients kept (approved, pending, rejected); no more"
    )
    max_pending: int = Field(
        default=200, ge=1, le=100_000,
        description="clients waiting for approval; a new one replaces the longest-silent unconnected one or is refused",
    )  # fmt: skip
    max_connections: int = Field(default=2000, ge=1, le=100_000, description="/ws connections open at once")
    max_connections_per_address: int = Field(
        default=16, ge=1, le=100_000, description="/ws connections open at once from one source address"
    )
    connects_per_minute: int = Field(
        default=60, ge=1, le=1_000_000,
        description="/ws handshakes per source address per minute (a client reconnects every 5 s: 12)",
    )  # fmt: skip
    requests_per_minute: int = Field(
        default=120, ge=1, le=1_000_000,
        description="requests to the four ClassTop sync endpoints per source address per minute",
    )  # fmt: skip
    frames_per_second: float = Field(
        default=60.0, gt=0, le=10_000, description="frames one connection may send per second; more are dropped"
    )
    camera_frame_ttl_s: float = Field(
        default=60.0, gt=0, le=3600, description="a client's latest camera frame is forgotten this long after it came"
    )
    camera_frames_max_bytes: int = Field(
        default=64 * 1024 * 1024, ge=1024 * 1024, le=4 * 1024**3,
        description="memory for the latest camera frames of all clients; the oldest go first",
    )  # fmt: skip
