"""The alerts' scheduled handlers: ``evaluate_alerts`` (every minute: the cloud's conditions, the overview summary's
pass, then the webhook deliveries due for a retry) and ``alert_digest`` (daily). See ``services/alert_evaluation.py``
and ``services/alert_notifications.py``."""

from __future__ import annotations

import dataclasses
from typing import Any

from chalicelib.handlers.events import services as container_services


def evaluate_alerts(event: Any) -> dict[str, Any]:
    """``event`` is Chalice's ``CloudWatchEvent`` (unused). An :class:`UpstreamError` propagates: the next run
    evaluates again (nothing is half-done: each alert is one conditional write). The tenant's sites are listed once,
    for the alerts and then the overview summary's pass (``services/site_summaries.py``): sites gone silent, and
    whatever the intake did not write; then the webhook deliveries due for a retry; then the active scopes' overview
    objects (``services/overview_feed.py``), written where they changed."""
    services = container_services()
    listing = services.site_summaries.listing()
    evaluated = services.alert_evaluator.run(listing.sites)
    summary = services.site_summaries.reconcile(listing)
    retried = services.notifier.retry_due()
    feed = services.overview_feed.refresh()
    return {"ok": True, **dataclasses.asdict(evaluated), "deliveries_sent": retried.sent,
            "deliveries_failed": retried.failed, "summary": dataclasses.asdict(summary),
            "overview_objects": dataclasses.asdict(feed)}


def alert_digest(event: Any) -> dict[str, Any]:
    return {"ok": True, **container_services().alerts.digest()}
