"""The ``site_events`` rule handler: a site's batch of agent events -> the events log and camera status."""

from __future__ import annotations

import dataclasses
from typing import Any

from chalicelib import container
from chalicelib.handlers.events import parse_site_event, run
from shared.messages import SiteEvents


def site_events(event: dict[str, Any], context: Any) -> dict[str, Any]:
    def handle() -> dict[str, Any]:
        site_id, message = parse_site_event(event, SiteEvents)
        report = container.get().cctv.ingest(site_id, [(e.agent_id, e.event) for e in message.events])
        return {"site_id": site_id, **dataclasses.asdict(report)}

    return run("site_events", event, handle)
