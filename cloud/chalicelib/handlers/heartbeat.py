"""The ``site_heartbeat`` rule handler: a site's ``SiteHeartbeat`` updates the site and agent registry."""

from __future__ import annotations

import dataclasses
from typing import Any

from chalicelib import container
from chalicelib.handlers.events import parse_site_event, run
from shared.messages import SiteHeartbeat


def site_heartbeat(event: dict[str, Any], context: Any) -> dict[str, Any]:
    def handle() -> dict[str, Any]:
        site_id, heartbeat = parse_site_event(event, SiteHeartbeat)
        return dataclasses.asdict(container.get().agents.ingest_heartbeat(site_id, heartbeat))

    return run("site_heartbeat", event, handle)
