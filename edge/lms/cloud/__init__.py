"""The LMS's cloud side: the IoT Core link, the durable outbox and its dead-letter, site heartbeats, agents'
settings from device shadows, agent snapshots and metric rollups."""

from __future__ import annotations

from edge.lms.cloud.link import CloudLink, LinkError
from edge.lms.cloud.outbox import Outbox
from edge.lms.cloud.rollup_sync import MetricRollupSync
from edge.lms.cloud.shadow_sync import ShadowSync
from edge.lms.cloud.site_heartbeats import SiteHeartbeats
from edge.lms.cloud.snapshot_sync import SnapshotSync

__all__ = ["CloudLink", "LinkError", "MetricRollupSync", "Outbox", "ShadowSync", "SiteHeartbeats", "SnapshotSync"]
