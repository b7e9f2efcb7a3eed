"""Cloud cost of one tenant: a simulated school day of 1,000 agents behind 25 sites, beside the naive design.

Runs the real cloud code (rule handlers, services, PynamoDB) on in-process moto with a simulated clock (no
sleeping) and counts what AWS would bill:

* DynamoDB write units — every PutItem / UpdateItem / DeleteItem / BatchWriteItem item / TransactWriteItems item
  (transactions cost 2x), 1 unit per started KB of the item, plus one more write per global secondary index the
  item is in (GSIs are billed like tables) — for an index that projects only some attributes (keys only, or
  INCLUDE), only when the write puts the item in it, takes it out or changes a key or projected attribute (the item
  before the write is read back unmetered): a write that changes none writes the table alone. Read units likewise
  from GetItem / Query responses (4 KB each, halved for eventually consistent reads); BatchGetItem as that many
  GetItems (each item rounded up to 4 KB on its own).
* IoT Core messages (metered per 5 KB) in both directions, rule triggers, and Lambda invocations (one per
  rule-delivered message, per API request and per sweeper run). The LMS's messages go with Basic Ingest when the
  real ``shared.topics.site_up`` says so (``$aws/rules/...``: no messaging charge, the rule still billed); the
  "previous" column is the same measured traffic with them billed as broker messages.
* API Gateway requests at the HTTP API's price (``infra/aws/http_api.py``), and CloudFront requests for the
  dashboard's API requests (it reaches ``/api/*`` through the tenant's distribution); S3 requests of the overview's
  objects (the dashboard's polls, their CORS preflights, the minute's pass's writes) and their data transfer out.

A day is not simulated second by second: it is three sampled periods, extrapolated (the output says so):
the morning boot (every agent comes online within the sample), a steady period (full site heartbeats every
``site_heartbeat_s`` as the LMS ships it, each agent's change at once in a changed-only heartbeat, 2% of agents
changing state per hour, a few commands and ClassTop syncs), and the evening shutdown; the steady sample stands for
the rest of the day. Metric rollups: one closed hour of every
agent's 5-minute buckets through the real ``site_metrics`` rule, x24 (measured; their values are synthetic, an
agent's 12 buckets alike, so an item is smaller than a real hour's, ≈535 against ≈640 bytes: one write unit both).
Not measured: a ClassTop client's hourly freshness refresh (the samples are shorter than an hour; one UpdateItem,
2-3 write units a client an hour, docs/classtop.md).

The naive design (every agent writes its item every 60 s through IoT Core and a Lambda) is measured with the same
counters over one sampled minute and extrapolated to the day.

The dashboard: ``--dashboard-admins`` (20) admins keep the overview open, polling ``GET /api/overview`` every
``--dashboard-interval`` (10) s with ``If-None-Match`` during ``--dashboard-hours`` (10) of the day, through the real
route (chalice's test client) while the steady sample runs; beside it, the same polls without ``If-None-Match``
(two admins measured, scaled to all): what the ETags save. Each poll is one API request and one Lambda invocation.
That was the design before last; this design's admins poll the overview's object in S3 instead
(``ObjectDashboard``: a presigned URL per admin, the object rewritten by the minute's pass when it changed),
measured in the same steady sample; both totals are printed, and the shared links' design (CloudFront's cache in
front of the API) as its last run measured it (``SHARED_LINKS_MEASURED``).

Usage: ``python bench/cloud_cost.py [--sites 25] [--agents-per-site 40] [--steady-minutes 20] [--dashboard-admins 20]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "cloud")]
os.environ.update(AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                  AWS_SESSION_TOKEN="bench")

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

from bench._aws_prices import (  # noqa: E402
    DAYS_PER_MONTH,
    PRICE_DDB_WRITE_UNIT,
    PRICE_FIXED_MONTH,
    fixed_monthly,
)
from bench._cost_meter import CountingPublisher, DynamoCounter, Meter, fleet_of, measure, scaled_costs  # noqa: E402
from bench._dashboard_admins import (  # noqa: E402
    Dashboard,
    ObjectDashboard,
    overview_at_scale,
    print_shared_links,
    route_costs,
)
from bench._results import Figure, write_results  # noqa: E402
from bench._sim_tenant import HEARTBEAT_S, Tenant, naive_minute  # noqa: E402
from chalicelib import container, models  # noqa: E402
from chalicelib.config import Settings  # noqa: E402
from chalicelib.domain.alert import ChannelKind  # noqa: E402


def use_previous_intake() -> None:
    """The fleet's intake as it was before (``--previous-intake``): every heartbeat reads its site's waiting orders
    and every full one the site's agents (nothing on the site's item spares them)."""
    from chalicelib.repositories.site import SiteRepository
    from chalicelib.services import agents
    from chalicelib.services.heartbeat_marks import HeartbeatMarks

    class PreviousMarks(HeartbeatMarks):
        @classmethod
        def of(cls, site: Any) -> PreviousMarks:
            return cls(None, None)

        def spares_agents(self, digest: str | None) -> bool:
            return False

        def know_agents(self, digest: str | None) -> None:
            pass

        def no_orders_since(self, at: float) -> bool:
            return False

        def saw_orders(self, waiting: bool, at: float) -> None:
            self.orders_read = True

    agents.HeartbeatMarks = PreviousMarks  # type: ignore[attr-defined]  # the name agents.py looks up, replaced
    SiteRepository.forget = lambda self, site_id, **_: None  # type: ignore[method-assign]


#: alerts assumed per agent per day (each one fires and resolves: two changes through the site's outbox)
ALERTS_PER_AGENT_DAY = 0.5
#: agents whose alert fires and resolves in the measured intake sample
ALERT_SAMPLE = 50


def print_fleet(fleet: Meter, agents: int, previous_run: subprocess.Popen[str] | None) -> None:
    """Where the fleet's dollars go, per function, and its total beside the previous intake's in the same run."""
    previous = json.loads(previous_run.communicate()[0].strip().splitlines()[-1]) if previous_run else None
    print(f"  the fleet (without the dashboard) per function, per day; $ per 1,000 agents per month"
          f"{' (previous: the previous intake, measured in this run)' if previous else ''}:")
    print(f"    {'function':18}{'invocations':>12}{'RU/inv':>8}{'WCU/inv':>8}{'items/inv':>10}{'B/item':>8}"
          f"{'DynamoDB $':>11}{'Lambda $':>9}{'rules $':>8}{'total $':>9}{'previous':>10}")
    rows = sorted(fleet.parts.items(), key=lambda kv: -sum(scaled_costs(kv[1], agents).values()))
    for name, part in rows:
        c = scaled_costs(part, agents)
        n = max(1, part.lambda_invocations)
        before = f"{previous['parts'].get(name, 0.0):>10.2f}" if previous else ""
        print(f"    {name:18}{part.lambda_invocations:>12,}{part.read_units / n:>8.2f}{part.write_units / n:>8.2f}"
              f"{part.write_items / n:>10.2f}{part.write_bytes / max(1, part.write_items):>8.0f}"
              f"{c['dynamodb_writes'] + c['dynamodb_reads']:>11.2f}{c['lambda']:>9.2f}{c['iot_rules']:>8.2f}"
              f"{sum(c.values()):>9.2f}{before}")
    costs = scaled_costs(fleet, agents)
    rest = sum(costs.values()) - sum(sum(scaled_costs(p, agents).values()) for p in fleet.parts.values())
    print(f"    {'(other: IoT, SNS)':18}{'':>74}{rest:>9.2f}")
    if previous:
        print(f"  {'fleet $/1000 agents/month':34}{'this design':>14}{'previous':>14}")
        for name, cost in costs.items():
            if cost or previous["costs"][name]:
                print(f"    {name:32}{cost:>14.2f}{previous['costs'][name]:>14.2f}")
        print(f"  {'FLEET TOTAL (without dashboard)':34}{sum(costs.values()):>14.2f}{previous['total']:>14.2f}"
              f"   ({sum(costs.values()) / previous['total']:.2f}x)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sites", type=int, default=25)
    parser.add_argument("--agents-per-site", type=int, default=40)
    parser.add_argument("--steady-minutes", type=float, default=10.0)
    parser.add_argument("--transition-minutes", type=float, default=15.0,
                        help="length of the sampled morning boot and evening shutdown")
    parser.add_argument("--clients", type=int, default=20, help="ClassTop clients syncing with the cloud directly")
    parser.add_argument("--dashboard-admins", type=int, default=20, help="admins with the overview open")
    parser.add_argument("--dashboard-interval", type=float, default=10.0, help="their refresh interval (s)")
    parser.add_argument("--dashboard-hours", type=float, default=10.0, help="hours a day they keep it open")
    parser.add_argument("--overview-agents", type=int, default=10_000,
                        help="agents (of --agents-per-site each) of the tenant whose overview is measured last")
    parser.add_argument("--site-heartbeat-s", type=float, default=HEARTBEAT_S,
                        help="the LMS's full heartbeat period (what if; the previous intake runs at the default)")
    parser.add_argument("--previous-intake", action="store_true",
                        help="run the fleet's previous intake (see use_previous_intake)")
    parser.add_argument("--fleet-json", action="store_true",
                        help="print only the fleet's figures (without the dashboard) as one JSON line")
    args = parser.parse_args()
    agents: int = args.sites * args.agents_per_site
    started = time.monotonic()
    previous_run = None
    if args.previous_intake:
        use_previous_intake()
    elif not args.fleet_json:  # the previous intake measured in the same run, beside this one
        previous_run = subprocess.Popen(
            [sys.executable, __file__, "--previous-intake", "--fleet-json", "--dashboard-admins", "0",
             "--overview-agents", "0", *(f"--{name}={getattr(args, name.replace('-', '_'))}" for name in
                                         ("sites", "agents-per-site", "steady-minutes", "transition-minutes",
                                          "clients"))],
            stdout=subprocess.PIPE, text=True)

    settings = Settings(tenant="bench", stage="bench", region="us-east-1", overview_bucket="bench-overview")
    counter = DynamoCounter()
    with mock_aws():
        container.reset()
        tenant = Tenant(counter, args.sites, args.agents_per_site)
        tenant.heartbeat_s = args.site_heartbeat_s
        container.configure(settings=settings, publisher=CountingPublisher(lambda: counter.meter), clock=tenant.clock)
        models.create_tables(settings)
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="bench-overview")  # the template's
        counter.learn_indexes()
        counter.install()
        try:
            span = args.transition_minutes
            boot = measure(lambda: tenant.run(span, boot=1.0, clients=args.clients, changed_syncs=args.clients),
                           counter)
            dashboard = Dashboard(counter, args.dashboard_admins, args.dashboard_interval, baseline_admins=2)
            dashboard.shared = ObjectDashboard(counter, args.dashboard_admins, args.dashboard_interval)
            tenant.dashboard = dashboard
            steady = measure(lambda: tenant.run(args.steady_minutes, churn_per_hour=0.02, commands=2,
                                                clients=args.clients, changed_syncs=args.clients // 10), counter)
            tenant.dashboard = None
            rollup_hour = measure(tenant.rollup_hour, counter)
            routes = route_costs(dashboard)
            shutdown = measure(lambda: tenant.run(span, shutdown=1.0, clients=args.clients), counter)
            naive = naive_minute(tenant, counter)
            # alerts: an e-mail channel on the tenant's alerts topic; one schedule run with every site reachable
            # (one heartbeat each first), and a sample of alerts firing and resolving
            topic = boto3.client("sns", region_name="us-east-1").create_topic(Name="alerts")["TopicArn"]
            container.configure(settings=Settings(tenant="bench", stage="bench", region="us-east-1",
                                                  alerts_topic_arn=topic))
            container.get().alert_rules.rules()  # the defaults installed (once per tenant)
            container.get().notifier.add_channel(ChannelKind.EMAIL, "ops@example.com", min_severity="warning",
                                                 quiet_hours=None, digest=False, secret=None)
            for site_id in tenant.sites:
                tenant.heartbeat(site_id)
            schedule_run = measure(tenant.alert_schedule, counter)
            alert_sample = measure(lambda: tenant.alert_changes(ALERT_SAMPLE), counter)
            at_scale = overview_at_scale(dashboard, args.overview_agents, args.agents_per_site, tenant.now) \
                if args.overview_agents else Meter()
        finally:
            counter.uninstall()
            container.reset()

    steady_minutes_per_day = 24 * 60 - 2 * args.transition_minutes
    day = Meter()
    day.add(boot)
    day.add(shutdown)
    day.add(steady.scaled(steady_minutes_per_day / args.steady_minutes))
    # metric rollups: one closed hour of every agent's, measured through the real rule, 24 a day
    day.add(rollup_hour.scaled(24))
    naive_day = naive.scaled(24 * 60)
    alerts_schedule_day = schedule_run.scaled(24 * 60)
    alerts_intake_day = alert_sample.scaled(agents * ALERTS_PER_AGENT_DAY / ALERT_SAMPLE)
    day.add(alerts_schedule_day)
    day.add(alerts_intake_day)
    # the dashboard's polls: the steady sample's, for the hours it is open
    dashboard_day = dashboard.meter.scaled(args.dashboard_hours * 60 / args.steady_minutes)
    unconditional_day = dashboard.baseline.scaled(args.dashboard_hours * 60 / args.steady_minutes
                                                  * args.dashboard_admins / max(1, dashboard.baseline_admins))
    shared = dashboard.shared
    assert shared is not None
    shared_day = shared.meter.scaled(args.dashboard_hours * 60 / args.steady_minutes)
    feed_requests_day = ObjectDashboard.feed_requests_per_day(args.dashboard_admins, args.dashboard_hours)
    shared_day.add(shared.feed_meter.scaled(feed_requests_day / max(1, shared.feed_requests)))
    day.add(shared_day)  # this design; the previous one (every poll to the API) is printed beside it

    def per_1000_month(m: Meter) -> float:
        return sum(m.cost().values()) * DAYS_PER_MONTH * 1000 / agents

    fleet = fleet_of(day, shared_day)
    if args.fleet_json:
        print(json.dumps({"total": per_1000_month(fleet), "costs": scaled_costs(fleet, agents),
                          "parts": {name: sum(scaled_costs(part, agents).values())
                                    for name, part in fleet.parts.items()}}))
        return 0
    steady_writes_per_agent_5min = steady.write_units / agents / (args.steady_minutes / 5)
    print(f"cloud_cost: {args.sites} sites x {args.agents_per_site} agents = {agents} agents; moto in-process, "
          f"simulated clock; finished in {time.monotonic() - started:.0f} s")
    print(f"  day = morning boot + evening shutdown ({args.transition_minutes:g} min each, every agent changes, "
          f"measured) + steady {args.steady_minutes:g} min measured and extrapolated "
          f"x{steady_minutes_per_day / args.steady_minutes:.0f} to the rest of the day; "
          f"{args.clients} ClassTop clients syncing every 5 min; "
          f"metric rollups: one hour measured, x24")
    beats = day.part("site_heartbeat")
    print(f"  site heartbeats: a full one every {args.site_heartbeat_s:g} s per site"
          f"{' (the LMS default, edge/lms/config/lms_config.py)' if args.site_heartbeat_s == HEARTBEAT_S else ''}, "
          f"each change at once in a changed-only one: {beats.lambda_invocations:,.0f} invocations / day, "
          f"${sum(scaled_costs(beats, agents).values()):.2f} per 1,000 agents / month "
          f"(--site-heartbeat-s 60 for the period before issue 18)")
    print(f"  steady state: {steady_writes_per_agent_5min:.3f} DynamoDB write units per agent per 5 min "
          f"(goal <= 1); per agent-day {day.write_units / agents:.1f} WCU")
    print(f"  overview summary (its items' writes, in the figures below): {day.summary_write_units:,.0f} write units "
          f"/ day ({100 * day.summary_write_units / max(1.0, day.write_units):.2f}% of the day's), "
          f"${day.summary_write_units * PRICE_DDB_WRITE_UNIT * DAYS_PER_MONTH * 1000 / agents:.3f} per 1,000 agents "
          f"/ month; by the intake {day.part('site_heartbeat').summary_write_units:,.0f}, by the minute's pass "
          f"{day.part('evaluate_alerts').summary_write_units:,.0f}; in the boot {boot.summary_write_units:,.0f}, "
          f"the shutdown {shutdown.summary_write_units:,.0f}, the steady sample {steady.summary_write_units:,.0f}")
    previous_day = day.without_basic_ingest()
    print(f"  {'':34}{'this design':>14}{'previous':>14}{'naive (60 s)':>14}   (previous: the same traffic, "
          "measured in this run, with the LMS's messages through the broker instead of Basic Ingest)")
    rows = [("DynamoDB write units / day", day.write_units, previous_day.write_units, naive_day.write_units),
            ("DynamoDB read units / day", day.read_units, previous_day.read_units, naive_day.read_units),
            ("IoT messages / day (billed)", day.iot_messages, previous_day.iot_messages, naive_day.iot_messages),
            ("Basic Ingest messages / day (free)", day.ingest_messages, previous_day.ingest_messages, 0),
            ("IoT rule triggers / day", day.rule_triggers, previous_day.rule_triggers, naive_day.rule_triggers),
            ("Lambda invocations / day", day.lambda_invocations, previous_day.lambda_invocations,
             naive_day.lambda_invocations),
            ("API requests / day", day.api_requests, previous_day.api_requests, naive_day.api_requests)]
    for name, ours, before, theirs in rows:
        print(f"  {name:34}{ours:>14,.0f}{before:>14,.0f}{theirs:>14,.0f}")
    ours_cost, previous_cost, naive_cost = day.cost(), previous_day.cost(), naive_day.cost()
    scale = DAYS_PER_MONTH * 1000 / agents
    for name in ours_cost:
        print(f"  {'$/1000 agents/month ' + name:34}{ours_cost[name] * scale:>14.2f}"
              f"{previous_cost[name] * scale:>14.2f}{naive_cost[name] * scale:>14.2f}")
    total, previous_total, naive_total = per_1000_month(day), per_1000_month(previous_day), per_1000_month(naive_day)
    print(f"  {'TOTAL $ per 1,000 agents / month':34}{total:>14.2f}{previous_total:>14.2f}{naive_total:>14.2f}"
          f"   (goals: < $10 issue 12, < $5 issue 18)")
    print(f"  {'  of which the dashboard':34}{per_1000_month(shared_day):>14.2f}"
          f"{per_1000_month(shared_day):>14.2f}   (the fleet without it: ${per_1000_month(fleet):.2f})")
    shared_cost, polled_cost = shared_day.cost(), dashboard_day.cost()
    print("  previous dashboard design by line: " + ", ".join(
        f"{name} {(ours_cost[name] - shared_cost[name] + polled_cost[name]) * scale:.2f}" for name in ours_cost))
    print(f"  {'TOTAL, previous dashboard design':34}{per_1000_month(fleet) + per_1000_month(dashboard_day):>14.2f}"
          f"   (every admin's poll reaches API Gateway and Lambda: the dashboard "
          f"${per_1000_month(dashboard_day):.2f}; now from the overview's objects in S3: "
          f"${per_1000_month(shared_day):.2f})")
    print_shared_links(per_1000_month(fleet), per_1000_month(shared_day), shared_day.cost(), scale)
    print_fleet(fleet, agents, previous_run)
    print(f"  DynamoDB ops in the steady sample: {dict(sorted(steady.ops.items()))}")
    print(f"  alerts (in the total above): schedule every minute ({args.sites} sites, none open) "
          f"${per_1000_month(alerts_schedule_day):.2f}; intake + notifications ({ALERTS_PER_AGENT_DAY:g} alert per "
          f"agent per day, fired and resolved, one e-mail channel: {alerts_intake_day.notifications:,} e-mails/day) "
          f"${per_1000_month(alerts_intake_day):.2f} per 1,000 agents / month")
    print(f"  dashboard: {args.dashboard_admins} admins, overview every {args.dashboard_interval:g} s, "
          f"{args.dashboard_hours:g} h/day (included above): {dashboard.not_modified}/{dashboard.polls} polls "
          f"answered 304 ({100 * dashboard.not_modified / max(1, dashboard.polls):.0f}%)")
    print(f"  overview objects, in the sample: {shared.polls} polls of S3 ({shared.not_modified} answered 304), "
          f"{shared.passes} minute's passes wrote {shared.writes} objects (gzip, {shared.object_bytes:,} B); feed "
          f"requests {feed_requests_day:,.0f}/day (each admin when the page opens and before its URL expires, each "
          f"with the new URL's CORS preflight)")
    print(f"  {'':34}{'S3 objects':>14}{'If-None-Match':>14}{'plain GETs':>14}")
    for name, link, ours, theirs in (("dashboard read units / day", shared_day.read_units, dashboard_day.read_units,
                                      unconditional_day.read_units),
                                     ("dashboard API requests / day", shared_day.api_requests,
                                      dashboard_day.api_requests, unconditional_day.api_requests),
                                     ("dashboard CloudFront requests / day", shared_day.cdn_requests,
                                      dashboard_day.cdn_requests, unconditional_day.cdn_requests),
                                     ("dashboard S3 requests / day", shared_day.s3_gets + shared_day.s3_puts, 0, 0)):
        print(f"  {name:34}{link:>14,.0f}{ours:>14,.0f}{theirs:>14,.0f}")
    print(f"  {'dashboard $/month (whole tenant)':34}{sum(shared_day.cost().values()) * DAYS_PER_MONTH:>14.2f}"
          f"{sum(dashboard_day.cost().values()) * DAYS_PER_MONTH:>14.2f}"
          f"{sum(unconditional_day.cost().values()) * DAYS_PER_MONTH:>14.2f}")
    print(f"  DynamoDB per request of the dashboard's main routes ({args.sites} sites, {agents} agents):")
    print(f"    {'route':32}{'read units':>12}{'items read':>12}{'write units':>12}")
    for path, meter in routes:
        print(f"    {path:32}{meter.read_units:>12.1f}{meter.read_items:>12}{meter.write_units:>12.1f}")
    print(f"    {f'/api/overview, {args.overview_agents:,} agents':32}{at_scale.read_units:>12.1f}"
          f"{at_scale.read_items:>12}{at_scale.write_units:>12.1f}   (goal: under 10 items; "
          f"{args.overview_agents // args.agents_per_site} sites of {args.agents_per_site}, a week of commands)")
    fixed = fixed_monthly()
    fixed_per_1000 = sum(cost for _, cost in fixed.values()) * 1000 / agents
    print("  fixed each month per tenant stage (the templates' resources; not in the figures above): "
          + ", ".join(f"{kind.split('::')[-1]} {n} x ${PRICE_FIXED_MONTH[kind]:.2f} = ${cost:.2f}"
                      for kind, (n, cost) in fixed.items())
          + "; CloudWatch Logs ingestion ($0.50 per GB) not metered")
    total += fixed_per_1000
    print(f"  {'TOTAL with the fixed costs':34}{total:>14.2f}   ($ per 1,000 agents / month, this tenant of {agents:,} "
          f"agents: the fixed part shrinks with larger tenants)")
    write_results("cloud_cost", [
        Figure("$ per 1,000 agents / month (fixed costs in)", total, "$", naive_total + fixed_per_1000,
               "naive design, 60 s writes", max_value=5.0),
        Figure(f"overview of {args.overview_agents:,} agents: items read", at_scale.read_items, "items",
               max_value=10.0)], params=vars(args))  # fmt: skip
    ok = steady_writes_per_agent_5min <= 1.0 and total < 10.0
    print(f"  goals: < $10 (issue 12) {'met' if total < 10 else 'NOT met'}; < $5 (issue 18) "
          f"{'met' if total < 5 else 'NOT met'}; <= 1 WCU per agent per 5 min "
          f"{'met' if steady_writes_per_agent_5min <= 1.0 else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
