"""Live changes for the console's open pages: the change feed (``ChangeFeed``) and what feeds it."""

from __future__ import annotations

from edge.lms.live.change_feed import ChangeFeed, ChangeKind
from edge.lms.live.feed_sources import connect_alerts, connect_feed

__all__ = ["ChangeFeed", "ChangeKind", "connect_alerts", "connect_feed"]
