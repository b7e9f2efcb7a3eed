"""The dashboard's admins in ``bench/cloud_cost.py``: polling the overview through the API (:class:`Dashboard`, the
design before the shared links) and straight from its object in S3 (:class:`ObjectDashboard`, this design), the
shared links' design behind CloudFront priced from its measured counts (:func:`shared_link_day`), and what one
request of each main route reads."""

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
        #: the same admins polling the overview's object in S3 (this design), alongside
        self.shared: ObjectDashboard | None = None

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


#: the shared links' design (the overview through CloudFront's cache, a signing secret), as this bench measured it at
#: main d3e9f49 (2026-12-07, default arguments, 2 edge caches assumed): the dashboard's $ per 1,000 agents per month
#: by line (its total $3.63), and the whole tenant's ($8.95; $9.55 with the fixed costs). That design's code is
#: gone, so it is quoted, not re-run
SHARED_LINKS_MEASURED = {"cloudfront": 2.18, "api_gateway": 0.85, "secrets_manager": 0.42, "lambda": 0.13,
                         "dynamodb_reads": 0.06}
SHARED_LINKS_TOTAL, SHARED_LINKS_TENANT_TOTAL = 3.63, 8.95

#: headers S3 sends with an object (200) or a 304, as counted on the wire (the object's body comes on top)
HEADER_BYTES_200 = 480
HEADER_BYTES_304 = 330
#: a CORS preflight's answer (one per new URL per admin: the browser keeps it for the URL's lifetime)
PREFLIGHT_BYTES = 360


class ObjectDashboard:
    """The same admins polling the overview's object in S3 (``services/overview_feed.py``). Each admin asks
    ``GET /api/overview/feed`` when the page opens and when its URL's ``refresh_after`` comes (through CloudFront's
    uncached ``/api/*``: a CloudFront, an API Gateway and a Lambda request; plus the browser's CORS preflight of
    the new URL, an S3 request), and polls the object every interval with ``If-None-Match`` (an S3 GET: a 304, or
    the object when the minute's pass rewrote it). The minute's pass (``OverviewFeed.refresh``, run by
    ``evaluate_alerts``, whose invocation the alert schedule already counts) runs at each simulated minute: its
    DynamoDB units and its S3 PUTs are this design's. Nothing of a poll reaches API Gateway or Lambda."""

    def __init__(self, counter: DynamoCounter, admins: int, interval_s: float) -> None:
        from app import app
        from chalice.test import Client

        from chalicelib.adapters.overview_objects import S3OverviewObjects

        self.counter = counter
        self.client = Client(app, stage_name="dev", project_dir=str(ROOT / "cloud"))
        self.admins, self.interval_s = admins, interval_s
        self.meter = Meter()  # the polls and the minute's pass
        #: the feed requests: metered apart and scaled per request (each admin asks when the page opens and when
        #: its URL is due, which a 10-minute sample cannot scale by time)
        self.feed_meter = Meter()
        self.token = ""
        self.links: dict[int, tuple[str, float]] = {}  # admin -> (its URL, when to ask for the next)
        self.tags: dict[int, str] = {}
        self.polls = self.not_modified = self.feed_requests = self.passes = self.writes = 0
        self.object_bytes = 0
        self._minute = -1
        real_put = S3OverviewObjects.put
        dashboard = self

        def counted_put(self: S3OverviewObjects, key: str, body: bytes, *, cache_control: str) -> None:
            counter.meter.s3_puts += 1
            dashboard.writes += 1
            real_put(self, key, body, cache_control=cache_control)

        S3OverviewObjects.put = counted_put  # type: ignore[method-assign]

    @staticmethod
    def feed_requests_per_day(admins: int, hours: float) -> float:
        """Each admin asks once when the page opens and then every ``LINK_S - REFRESH_BEFORE_S``."""
        from chalicelib.services.overview_feed import LINK_S, REFRESH_BEFORE_S

        return admins * (1 + hours * 3600 / (LINK_S - REFRESH_BEFORE_S))

    def poll_for(self, seconds: float) -> None:
        services = container.get()
        if not self.token:
            self.token = services.tokens.create("admin", "object bench").secret
        now = services.clock()
        if int(now // 60) != self._minute:  # the minute's pass (before the polls: their objects are its)
            self._minute = int(now // 60)
            self._metered(self.meter, services.overview_feed.refresh)
            self.passes += 1
        for _ in range(max(1, round(seconds / self.interval_s))):
            for admin in range(self.admins):
                self._poll(admin, now)

    def _metered(self, meter: Meter, fn: Any) -> Any:
        saved, self.counter.meter = self.counter.meter, meter
        try:
            return fn()
        finally:
            self.counter.meter = saved

    def _poll(self, admin: int, now: float) -> None:
        from urllib.parse import unquote, urlsplit

        from botocore.exceptions import ClientError

        from chalicelib.adapters.overview_objects import S3OverviewObjects

        url, refresh_after = self.links.get(admin, ("", 0.0))
        if now >= refresh_after:
            self.feed_requests += 1
            self.feed_meter.cdn_requests += 1
            self.feed_meter.api_requests += 1
            self.feed_meter.lambda_invocations += 1
            self.feed_meter.s3_gets += 1  # the new URL's CORS preflight
            self.feed_meter.transfer_bytes += PREFLIGHT_BYTES
            answer = self._metered(self.feed_meter, lambda: self.client.http.get(
                "/api/overview/feed", headers={"Authorization": f"Bearer {self.token}"}))
            if answer.status_code != 200:
                raise RuntimeError(f"overview feed: {answer.status_code} {answer.body[:200]!r}")
            data = answer.json_body["data"]
            url, refresh_after = data["url"], float(data["refresh_after"])
            self.links[admin] = (url, refresh_after)
        self.polls += 1
        self.meter.s3_gets += 1
        bucket, key = unquote(urlsplit(url).path).lstrip("/").split("/", 1) if url.startswith("http://") else (
            urlsplit(url).netloc.split(".")[0], unquote(urlsplit(url).path).lstrip("/"))
        objects = container.get().overview_feed._objects
        assert isinstance(objects, S3OverviewObjects)
        s3 = objects.client  # the twin's S3 (moto), as the URL names it
        try:
            got = s3.get_object(Bucket=bucket, Key=key, **({"IfNoneMatch": self.tags[admin]}
                                                            if admin in self.tags else {}))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("304", "NotModified"):
                raise
            self.not_modified += 1
            self.meter.transfer_bytes += HEADER_BYTES_304
            return
        body = got["Body"].read()
        self.object_bytes = len(body)
        self.tags[admin] = got["ETag"]
        self.meter.transfer_bytes += HEADER_BYTES_200 + len(body)


def print_shared_links(fleet: float, dashboard: float, costs: dict[str, float], scale: float) -> None:
    """This design's dashboard by line beside the shared links' (:data:`SHARED_LINKS_MEASURED`), $ per 1,000 agents
    per month; ``fleet`` and ``dashboard`` this run's totals, ``costs`` this design's dashboard $ a day by line."""
    ours = {name: cost * scale for name, cost in costs.items() if cost * scale >= 0.005}
    print("  dashboard by line, $ per 1,000 agents / month: this design (S3 objects) "
          + ", ".join(f"{name} {cost:.2f}" for name, cost in ours.items())
          + f" = {dashboard:.2f}; the shared links' (measured at main d3e9f49) "
          + ", ".join(f"{name} {cost:.2f}" for name, cost in SHARED_LINKS_MEASURED.items())
          + f" = {SHARED_LINKS_TOTAL:.2f} ({SHARED_LINKS_TOTAL / max(dashboard, 1e-9):.1f}x this design's)")
    print(f"  {'TOTAL, shared links design':34}{fleet + SHARED_LINKS_TOTAL:>14.2f}   (this run's fleet with that "
          f"dashboard; at main d3e9f49 the whole tenant measured ${SHARED_LINKS_TENANT_TOTAL:.2f})")


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
