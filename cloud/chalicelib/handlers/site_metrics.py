"""The ``site_metrics`` rule handler: a site's batch of agents' 5-minute metric rollups -> the rollup table."""

from __future__ import annotations

import dataclasses
from typing import Any

from chalicelib import container
from chalicelib.handlers.events import parse_site_event, run
from shared.messages import MetricRollups


def site_metrics(event: dict[str, Any], context: Any) -> dict[str, Any]:
    def handle() -> dict[str, Any]:
        site_id, message = parse_site_event(event, MetricRollups)
        report = container.get().metric_rollups.ingest(site_id, message.rollups)
        return {"site_id": site_id, **dataclasses.asdict(report)}

    return run("site_metrics", event, handle)
