"""``GET /api/agents/{id}/metrics?range=hour|day|week``: an agent's metric charts (CPU, memory, disk, network)
from the rollups its site sends (``services/metric_history.py``), polled by the dashboard with ``If-None-Match``:
inside one 5-minute window (and while the agents' change mark holds: a moved or retired agent answers anew) it costs
one read of the change marks and answers 304."""

from __future__ import annotations

from chalice.app import Response

from chalicelib import container
from chalicelib.api.http import ok, query_str
from chalicelib.api.params import Query
from chalicelib.api.routes import Access, Call, Router, Scope
from chalicelib.domain.metric_bucket import WINDOW_ALIGN_S, MetricRange
from chalicelib.repositories.change_mark import Area

api = Router(__name__, tag="agents")


@api.route(
    "GET",
    "/api/agents/{agent_id}/metrics",
    Access.VIEWER,
    Scope.SITE,
    "An agent's CPU, memory and fullest disk (%) and network receive/transmit rates (bytes/s), each min/avg/max, "
    "over the last hour (5-minute points), day (15-minute) or week (hourly), from its site's metric rollups (a figure "
    "its site did not send is null)",
    query=(Query("range", "hour (default), day or week", enum=tuple(r.value for r in MetricRange)),),
    etag=(Area.AGENTS,),
    etag_clock_s=WINDOW_ALIGN_S,
)
def agent_metrics(call: Call[None], agent_id: str) -> Response:
    metric_range = MetricRange(query_str(call.request, "range") or MetricRange.HOUR.value)
    return ok(container.get().metric_history.series(agent_id, metric_range, call.principal).to_dict())
