"""LMS -> cloud: per-agent snapshots (settings, ClassTop timetable, CCTV config) on ``site_up(..., SiteUp.SYNC)``.

Each entry is the whole current value of one kind of data of one agent, versioned by ``(epoch, version)``:
the cloud keeps, per ``(agent_id, kind)``, the entry with the greatest ``(epoch, version)`` (the last-writer
rule of docs/protocol.md "Snapshots"). :func:`split_snapshots` packs entries into messages that stay within
:data:`~shared.messages.base.MAX_PAYLOAD_BYTES`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import Field, model_validator

from shared.errors import ErrorCode, MessageError
from shared.messages.base import JsonObject, Message, Strict, encode
from shared.messages.checks import MAX_PAYLOAD_BYTES, rollup_aligned, unique_rollups, unique_snapshots
from shared.messages.checks import ROLLUP_HOUR_S as ROLLUP_HOUR_S
from shared.messages.checks import ROLLUP_OPTIONAL_FIGURES as ROLLUP_OPTIONAL_FIGURES
from shared.messages.enums import SnapshotKind as SnapshotKind
from shared.messages.mixins import SnapshotOrder
from shared.topics import ID_PATTERN

#: at most this many entries per message
MAX_SNAPSHOT_ENTRIES = 200
#: room left for the envelope (``{"v":1,"type":"agent_snapshots","snapshots":[...]}``) and the rule's fields
ENVELOPE_BYTES = 256
EPOCH_PATTERN = r"^[0-9A-Za-z_-]{1,64}$"


class SnapshotEntry(SnapshotOrder, Strict):
    """The current value of one kind of data of one agent."""

    agent_id: str = Field(pattern=ID_PATTERN)
    kind: SnapshotKind
    epoch: str = Field(pattern=EPOCH_PATTERN, description="the writer's epoch (new when its store is recreated)")
    version: int = Field(ge=1, le=2**53, description="grows by one with every change within an epoch")
    hash: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 hex of the canonical JSON of data")
    data: JsonObject
    updated_at: float = Field(ge=0)


class AgentSnapshots(Message):
    """LMS -> cloud: a batch of changed snapshots (at most one per ``(agent_id, kind)``)."""

    type: Literal["agent_snapshots"] = "agent_snapshots"
    snapshots: list[SnapshotEntry] = Field(min_length=1, max_length=MAX_SNAPSHOT_ENTRIES)

    @model_validator(mode="after")
    def _unique(self) -> AgentSnapshots:
        unique_snapshots(self)
        return self


def snapshot_hash(data: dict[str, Any]) -> str:
    """sha256 hex of the canonical JSON of ``data`` (sorted keys, no spaces, UTF-8)."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def split_snapshots(
    entries: Iterable[SnapshotEntry], *, max_bytes: int = MAX_PAYLOAD_BYTES, max_entries: int = MAX_SNAPSHOT_ENTRIES
) -> list[AgentSnapshots]:
    """Pack ``entries`` (in order) into as few messages as fit ``max_bytes`` each.

    Raises :class:`MessageError` (``payload_too_large``) for one entry that cannot fit a message alone.
    """
    budget = max_bytes - ENVELOPE_BYTES
    messages: list[AgentSnapshots] = []
    batch: list[SnapshotEntry] = []
    keys: set[tuple[str, SnapshotKind]] = set()
    size = 0
    for entry in entries:
        entry_size = len(encode(entry)) + 1  # the comma
        if entry_size > budget:
            raise MessageError(
                f"snapshot {entry.kind} of {entry.agent_id} is {entry_size} bytes: over the {budget}-byte budget",
                code=ErrorCode.PAYLOAD_TOO_LARGE,
            )
        key = (entry.agent_id, entry.kind)
        if batch and (size + entry_size > budget or len(batch) >= max_entries or key in keys):
            messages.append(AgentSnapshots(snapshots=batch))
            batch, keys, size = [], set(), 0
        batch.append(entry)
        keys.add(key)
        size += entry_size
    if batch:
        messages.append(AgentSnapshots(snapshots=batch))
    return messages


#: the width of one metric rollup bucket (seconds); buckets start at multiples of it (UTC epoch)
ROLLUP_PERIOD_S = 300
#: 20 agent-hours of 12 buckets; with percentages to 2 decimals and rates in whole bytes/s, a message of the longest
#: ids and widest figures stays under ~100 KB (tests/unit/shared/test_sync_messages.py measures it)
MAX_ROLLUPS = 240
#: the highest network rate a rollup carries (bytes/s): 100 Gbit/s, far beyond any classroom link
MAX_RATE_BPS = 12_500_000_000


class MetricRollup(Strict):
    """One agent's figures over one closed bucket ``[start, start + period_s)``: CPU and memory (%), the fullest
    disk's used % and the network's receive / transmit rates (bytes/s; the agent's counter deltas, a counter reset
    is no rate), each min/avg/max of the bucket's samples that had it.

    Disk and network came after the first release (schema ``v`` stays 1: the fields are optional): an older
    site's rollups, without them, are accepted and their charts show gaps, not zeros."""

    agent_id: str = Field(pattern=ID_PATTERN)
    start: int = Field(ge=0, description="bucket start, epoch seconds, a multiple of period_s")
    period_s: int = Field(default=ROLLUP_PERIOD_S, ge=60, le=3600)
    samples: int = Field(ge=1)
    cpu_min: float = Field(ge=0, le=100)
    cpu_avg: float = Field(ge=0, le=100)
    cpu_max: float = Field(ge=0, le=100)
    mem_min: float | None = Field(default=None, ge=0, le=100)
    mem_avg: float | None = Field(default=None, ge=0, le=100)
    mem_max: float | None = Field(default=None, ge=0, le=100)
    disk_min: float | None = Field(default=None, ge=0, le=100)
    disk_avg: float | None = Field(default=None, ge=0, le=100)
    disk_max: float | None = Field(default=None, ge=0, le=100)
    net_rx_min: int | None = Field(default=None, ge=0, le=MAX_RATE_BPS)
    net_rx_avg: int | None = Field(default=None, ge=0, le=MAX_RATE_BPS)
    net_rx_max: int | None = Field(default=None, ge=0, le=MAX_RATE_BPS)
    net_tx_min: int | None = Field(default=None, ge=0, le=MAX_RATE_BPS)
    net_tx_avg: int | None = Field(default=None, ge=0, le=MAX_RATE_BPS)
    net_tx_max: int | None = Field(default=None, ge=0, le=MAX_RATE_BPS)

    @model_validator(mode="after")
    def _aligned(self) -> MetricRollup:
        rollup_aligned(self)
        return self


class MetricRollups(Message):
    """LMS -> cloud (``up/metrics``): closed per-agent buckets of whole closed hours (at most one per
    ``(agent_id, start)``; the LMS never splits one agent's hour across messages)."""

    type: Literal["metric_rollups"] = "metric_rollups"
    rollups: list[MetricRollup] = Field(min_length=1, max_length=MAX_ROLLUPS)

    @model_validator(mode="after")
    def _unique(self) -> MetricRollups:
        unique_rollups(self)
        return self
