"""The IoT-rule handlers: each takes one kind of site message (``…/site/<site_id>/up/<channel>``) and hands it, with
the site id from the topic, to one service. Each answers ``{"ok": true, "site_id", …the service's report}``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from chalicelib import observability
from chalicelib.handlers.events import (
    LambdaHandler,
    change_marks_deferred,
    parse_presence_event,
    parse_site_event,
    run,
    services,
)

if TYPE_CHECKING:  # a service, and the messages' mirrors, load with its function's first event (docs/deploy.md)
    import msgspec

    from chalicelib.container import Container
    from chalicelib.domain.site_order import SiteOrder
    from chalicelib.services.heartbeat_marks import HeartbeatReport
    from shared.messages.structs import SiteHeartbeat

M = TypeVar("M", bound="msgspec.Struct")


def _structs() -> Any:
    """``shared.messages.structs``: the messages' msgspec mirrors (a rule function never loads pydantic)."""
    from shared.messages import structs

    return structs


def rule_handler(name: str, model: Callable[[], type[M]], ingest: Callable[[Container, str, M], Any]
                 ) -> LambdaHandler:
    """The Lambda function ``name``: parse a ``model()`` message (its msgspec mirror) from the rule event,
    ``ingest(services, site_id, message)``, answer its report (a dataclass). A bad event is dropped; DynamoDB trouble
    is retried (see ``events.run``). ``model`` names the mirror without loading it: it loads with the first event."""

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        def handle() -> dict[str, Any]:
            site_id, message = parse_site_event(event, model())
            observability.bind(site_id=site_id)
            with change_marks_deferred():
                report = ingest(services(), site_id, message)
            return {"site_id": site_id, **dataclasses.asdict(report)}

        return run(name, event, handle)

    handler.__name__ = handler.__qualname__ = name
    return handler


def _heartbeat(services: Container, site_id: str, heartbeat: SiteHeartbeat) -> HeartbeatReport:
    """The registry, leaving out agents whose retirement the site has not carried out; after a full heartbeat (one
    follows every reconnection of the LMS) the site's waiting orders go again (chalicelib.services.site_orders).
    The orders are read only when the site's item does not say that none wait (``AgentService.ingest_heartbeat``)."""
    read: list[SiteOrder] = []

    def orders() -> list[SiteOrder]:
        read.extend(services.site_orders.of_site(site_id))
        return read

    report = services.agents.ingest_heartbeat(site_id, heartbeat, orders)
    if not heartbeat.full or report.stale or not read:
        return report
    return dataclasses.replace(report, orders_resent=services.site_orders.resend(read))


#: a site's ``SiteHeartbeat`` updates the site and agent registry
site_heartbeat = rule_handler("site_heartbeat", lambda: _structs().SiteHeartbeat, _heartbeat)
#: a site's ``CommandResults`` advance per-agent command outcomes
command_results = rule_handler("command_results", lambda: _structs().CommandResults,
                               lambda services, site_id, message: services.commands.apply_results(site_id,
                                                                                                   message.results))
#: a site's batch of agent events: the events log and camera status
site_events = rule_handler("site_events", lambda: _structs().SiteEvents,
                           lambda services, site_id, message: services.cctv.ingest(
                               site_id, [(e.agent_id, e.event) for e in message.events]))
#: a site's batch of agents' snapshots: the last-writer store
site_sync = rule_handler("site_sync", lambda: _structs().AgentSnapshots,
                         lambda services, site_id, message: services.snapshots.ingest(site_id, message.snapshots))
#: a site's batch of agents' 5-minute metric rollups: the rollup table
site_metrics = rule_handler("site_metrics", lambda: _structs().MetricRollups,
                            lambda services, site_id, message: services.metric_rollups.ingest(site_id,
                                                                                              message.rollups))
#: a site's report of agents it retired: the cloud's records of them cleaned (chalicelib.services.retirement)
agents_retired = rule_handler("agents_retired", lambda: _structs().AgentsRetired,
                              lambda services, site_id, message: services.retirement.retired_at_site(site_id, message))
#: a site's report on an upgrade campaign the cloud ordered (chalicelib.services.upgrade_campaigns)
upgrade_reports = rule_handler("upgrade_reports", lambda: _structs().UpgradeCampaignReport,
                               lambda services, site_id, report: services.upgrades.apply_report(site_id, report))
#: a site's alert changes (its LMS's rules): stored if newer, notified (chalicelib.services.alerts)
site_alerts = rule_handler("site_alerts", lambda: _structs().SiteAlerts,
                           lambda services, site_id, message: services.alerts.ingest(site_id, message))


def site_presence(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """IoT Core's lifecycle event of a site's client: its link's state and why (chalicelib.services.site_link)."""

    def handle() -> dict[str, Any]:
        client_id, lifecycle = parse_presence_event(event)
        report = services().site_link.record(client_id, lifecycle)
        if report.site_id:
            observability.bind(site_id=report.site_id)
        return dataclasses.asdict(report)

    return run("site_presence", event, handle)
