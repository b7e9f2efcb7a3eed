"""The LMS's cloud side: the IoT Core link, the durable outbox and its dead-letter, site heartbeats, agents'
settings from device shadows, agent snapshots and metric rollups."""

from __future__ import annotations

from edge.lms.cloud.cloud_side import CloudLinkError, CloudSide
from edge.lms.cloud.config_sync import AppliedCloudConfig, LmsConfigSync, startup_config
from edge.lms.cloud.link import CloudLink, LinkError
from edge.lms.cloud.outbox import Outbox
from edge.lms.cloud.outbox_rows import DEAD_LIST_MAX, DeadLetter
from edge.lms.cloud.rollup_sync import MetricRollupSync
from edge.lms.cloud.shadow_sync import ShadowSync
from edge.lms.cloud.site_heartbeats import SiteHeartbeats
from edge.lms.cloud.snapshot_sync import SnapshotSync

__all__ = [
    "DEAD_LIST_MAX",
    "AppliedCloudConfig",
    "CloudLink",
    "CloudLinkError",
    "CloudSide",
    "DeadLetter",
    "LinkError",
    "LmsConfigSync",
    "MetricRollupSync",
    "Outbox",
    "ShadowSync",
    "SiteHeartbeats",
    "SnapshotSync",
    "startup_config",
]
