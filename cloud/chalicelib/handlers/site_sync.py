"""The ``site_sync`` rule handler: a site's batch of agents' snapshots -> the last-writer store."""

from __future__ import annotations

import dataclasses
from typing import Any

from chalicelib import container
from chalicelib.handlers.events import parse_site_event, run
from shared.messages import AgentSnapshots


def site_sync(event: dict[str, Any], context: Any) -> dict[str, Any]:
    def handle() -> dict[str, Any]:
        site_id, message = parse_site_event(event, AgentSnapshots)
        report = container.get().snapshots.ingest(site_id, message.snapshots)
        return {"site_id": site_id, **dataclasses.asdict(report)}

    return run("site_sync", event, handle)
