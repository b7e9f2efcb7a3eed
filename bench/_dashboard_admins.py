"""The dashboard's admins in ``bench/cloud_cost.py``: polling the overview through the API (:class:`Dashboard`, the
previous design) and through its shared link behind CloudFront (:class:`SharedLinkDashboard`), and what one request
of each main route reads."""

from __future__ import annotations

import json
import time
from typing import Any

from bench._aws_prices import ROOT
from bench._cost_meter import DynamoCounter, Meter
from chalicelib import container


class Dashboard:
    """Admins with the overview open: conditional polls (``meter``), and unconditional ones (``baseline``)."""

    def __init__(self, counter: DynamoCounter, admins: int, interval_s: float, baseline_admins: int) -> None:
        from app import app
        from chalice.test import Client

        self.counter = counter
        self.client = Client(app, stage_name="dev", project_dir=str(ROOT / "cloud"))
        self.admins = admins
        self.interval_s = interval_s
        self.baseline_admins = min(baseline_admins, admins)
        self.meter = Meter()
        self.baseline = Meter()
        self.tags: dict[int, str] = {}
        self.not_modified = 0
        self.polls = 0
        self.token = ""
        #: the same admins through the overview's shared link (this design), polled alongside
        self.shared: SharedLinkDashboard | None = None

    def poll_for(self, seconds: float) -> None:
        if not self.token:
            self.token = container.get().tokens.create("admin", "dashboard bench").secret
        for _ in range(max(1, round(seconds / self.interval_s))):
            for admin in range(self.admins):
                self._poll(admin, conditional=True)
            for admin in range(self.baseline_admins):
                self._poll(admin, conditional=False)
        if self.shared is not None:
            self.shared.poll_for(seconds)

    def _poll(self, admin: int, *, conditional: bool) -> None:
        saved, self.counter.meter = self.counter.meter, self.meter if conditional else self.baseline
        try:
            self.counter.meter.api_requests += 1
            self.counter.meter.cdn_requests += 1
            self.counter.meter.lambda_invocations += 1
            headers = {"Authorization": f"Bearer {self.token}"}
            if conditional and admin in self.tags:
                headers["If-None-Match"] = self.tags[admin]
            response = self.client.http.get("/api/overview", headers=headers)
            if response.status_code not in (200, 304):
                raise RuntimeError(f"overview poll: {response.status_code} {response.body[:200]!r}")
            if conditional:
                self.polls += 1
                self.not_modified += response.status_code == 304
                self.tags[admin] = response.headers["ETag"]
        finally:
            self.counter.meter = saved


class SharedLinkDashboard:
    """The same admins through the overview's shared link (``services/overview_feed.py``). Each admin asks
    ``GET /api/overview/feed`` when its link's window ends (through CloudFront's uncached ``/api/*``: a CloudFront,
    an API Gateway and a Lambda request) and polls the link every interval, with ``If-None-Match``. CloudFront is
    modelled as ``edges`` edge caches with the admins spread over them: each keeps the origin's answer for the
    ``max-age`` it sends and revalidates it (``If-None-Match``: a 304 costs the origin one read of the marks) at
    the first poll after it went stale. Every poll is a CloudFront request; only a stale edge's reaches API Gateway
    and Lambda. Polls of one step are ``interval`` seconds apart on the edges' clock (the origin's clock moves in
    heartbeat steps), so an edge revalidates once per ``max-age``: regional edge caches, which would merge the
    edges' revalidations, are not counted on (an upper bound)."""

    def __init__(self, counter: DynamoCounter, admins: int, interval_s: float, edges: int) -> None:
        from app import app
        from chalice.test import Client

        self.counter = counter
        self.client = Client(app, stage_name="dev", project_dir=str(ROOT / "cloud"))
        self.admins, self.interval_s, self.edges = admins, interval_s, max(1, edges)
        self.meter = Meter()  # the polls of the links
        #: the feed requests: metered apart and scaled per request (each admin asks once when the page opens and
        #: once per window, which a 10-minute sample cannot scale by time)
        self.feed_meter = Meter()
        self.token = ""
        self.links: dict[int, tuple[str, float]] = {}  # admin -> (its link, when to ask for the next)
        self.copies: dict[tuple[int, str], tuple[str, float]] = {}  # (edge, link) -> (ETag, fresh until)
        self.polls = self.origin_requests = self.origin_not_modified = self.feed_requests = 0

    def poll_for(self, seconds: float) -> None:
        services = container.get()
        if not self.token:
            self.token = services.tokens.create("admin", "shared link bench").secret
        now = services.clock()
        for step in range(max(1, round(seconds / self.interval_s))):
            for admin in range(self.admins):
                self._poll(admin, now + step * self.interval_s, now)

    def _get(self, path: str, headers: dict[str, str], meter: Meter) -> Any:
        saved, self.counter.meter = self.counter.meter, meter
        try:
            response = self.client.http.get(path, headers=headers)
        finally:
            self.counter.meter = saved
        if response.status_code not in (200, 304):
            raise RuntimeError(f"shared link poll {path}: {response.status_code} {response.body[:200]!r}")
        return response

    def _poll(self, admin: int, at: float, origin_now: float) -> None:
        """A poll at ``at`` on the edges' clock; the origin's clock (the links' windows) is ``origin_now``."""
        self.polls += 1
        self.meter.cdn_requests += 1
        link, refresh_after = self.links.get(admin, ("", 0.0))
        if origin_now >= refresh_after:
            self.feed_requests += 1
            self.feed_meter.cdn_requests += 1
            self.feed_meter.api_requests += 1
            self.feed_meter.lambda_invocations += 1
            auth = {"Authorization": f"Bearer {self.token}"}
            data = self._get("/api/overview/feed", auth, self.feed_meter).json_body["data"]
            link, refresh_after = data["url"], float(data["refresh_after"])
            self.links[admin] = (link, refresh_after)
        edge = (admin % self.edges, link)
        tag, fresh_until = self.copies.get(edge, ("", 0.0))
        if at < fresh_until:
            return  # the edge answers (its copy, or a 304 to the admin's If-None-Match)
        self.origin_requests += 1
        self.meter.api_requests += 1
        self.meter.lambda_invocations += 1
        response = self._get(link, {"If-None-Match": tag} if tag else {}, self.meter)
        self.origin_not_modified += response.status_code == 304
        max_age = int(response.headers["Cache-Control"].split("max-age=")[1].split(",")[0])
        self.copies[edge] = (response.headers["ETag"], at + max_age)


#: the dashboard's main routes, as its pages call them
DASHBOARD_ROUTES = ("/api/overview", "/api/lms?limit=100", "/api/agents?limit=100", "/api/alerts", "/api/stats")


def route_costs(dashboard: Dashboard) -> list[tuple[str, Meter]]:
    """DynamoDB units of one request of each of the dashboard's main routes (and of an unchanged overview's
    conditional poll), measured on the tenant as the steady sample left it."""
    out: list[tuple[str, Meter]] = []
    headers = {"Authorization": f"Bearer {dashboard.token}"}
    for path, conditional in ((DASHBOARD_ROUTES[0], True), *((p, False) for p in DASHBOARD_ROUTES)):
        saved, dashboard.counter.meter = dashboard.counter.meter, Meter()
        try:
            first = dashboard.client.http.get(path, headers=headers)
            if conditional:
                dashboard.counter.meter = Meter()
                again = dashboard.client.http.get(path, headers={**headers, "If-None-Match": first.headers["ETag"]})
                assert again.status_code == 304, again.status_code
            elif first.status_code != 200:
                raise RuntimeError(f"{path}: {first.status_code} {first.body[:200]!r}")
            out.append((f"{path} (304)" if conditional else path, dashboard.counter.meter))
        finally:
            dashboard.counter.meter = saved
    return out


def overview_at_scale(dashboard: Dashboard, agents: int, per_site: int, now: float) -> Meter:
    """One changed overview (and nothing else) with sites added up to ``agents`` agents of ``per_site`` each, and a
    week of command history (every site's commands of each of the 6 days before today, as the ``command_results``
    rule counts them: the tenant's and each site's counters; with today's, the overview's whole week): the read side
    of issue 18's "an overview of 10,000 agents reads under 10 items", whatever the tenant's history. Run last: it
    adds sites and counts."""
    from chalicelib.domain.site import Site
    from chalicelib.repositories.rollup import RollupRepository
    from chalicelib.repositories.site import SiteRepository
    from chalicelib.services.stats import ROLLUP_RETENTION_S, site_scope, tenant_scope

    repo = SiteRepository("bench")
    site_ids = [f"site-{n:02d}" for n in range(agents // per_site)]
    for site_id in site_ids:
        if repo.get(site_id) is None:
            repo.save(Site(site_id, now, "1.0.0", agent_count=per_site, online_count=per_site // 2))
    saved, dashboard.counter.meter = dashboard.counter.meter, Meter()
    container.get().site_summaries.reconcile()  # the minute's pass: the sites added here, unmetered
    rollups, history = RollupRepository(), 0  # the 6 days before today, unmetered: 2 commands an agent a day
    for back in range(6, 0, -1):
        day = time.strftime("%Y-%m-%d", time.gmtime(now - back * 86400))
        site_counts = {"commands_succeeded": 2 * per_site - back, "commands_failed": back}
        for site_id in site_ids:
            rollups.add(site_scope(site_id), day, site_counts, now + ROLLUP_RETENTION_S)
        rollups.add(tenant_scope(), day, {k: n * len(site_ids) for k, n in site_counts.items()},
                    now + ROLLUP_RETENTION_S)
        history += 2 * per_site * len(site_ids)
    dashboard.counter.meter = Meter()
    try:
        answer = dashboard.client.http.get("/api/overview", headers={"Authorization": f"Bearer {dashboard.token}"})
        data = json.loads(answer.body)["data"] if answer.status_code == 200 else {}
        if not data or data["totals"]["agents"] < agents or data["commands"]["week"]["finished"] < history:
            raise RuntimeError(f"overview at scale: {answer.status_code} {answer.body[:200]!r}")
        return dashboard.counter.meter
    finally:
        dashboard.counter.meter = saved
