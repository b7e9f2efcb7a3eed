"""The simulated tenant of ``bench/cloud_cost.py``: sites with their agents' presence on a simulated clock, sending
what the LMS sends through the real rule handlers; and the naive design's minute."""

from __future__ import annotations

import json
import math
from typing import Any

from bench._cost_meter import DynamoCounter, Meter
from bench._dashboard_admins import Dashboard
from chalicelib import container
from chalicelib.domain.agent import Agent
from chalicelib.domain.token import Principal, Role
from chalicelib.handlers import RULE_HANDLERS
from chalicelib.handlers.sweeper import expire_commands
from chalicelib.repositories import change_mark
from chalicelib.services.commands import CommandRequest
from edge.lms.config.lms_config import LmsConfig
from infra.aws.rules import event_for, rule_for_handler
from shared.messages import MAX_ROLLUPS, ROLLUP_HOUR_S, ROLLUP_PERIOD_S, Presence
from shared.names import Namespace
from shared.topics import BASIC_INGEST_PREFIX, site_up

#: the LMS's full site heartbeat period as it ships (``site_heartbeat_s``; ``--site-heartbeat-s``)
HEARTBEAT_S = float(LmsConfig.model_fields["site_heartbeat_s"].default)
#: the simulated clock's step (the full heartbeat period when shorter): the minute's pass, the dashboard's polls, the
#: sweeper, the syncs and the agents' changes are laid out on it
TICK_S = 60.0


class Tenant:
    """The simulated tenant: sites with their agents' presence, and the clock."""

    def __init__(self, counter: DynamoCounter, sites: int, per_site: int) -> None:
        self.counter = counter
        self.heartbeat_s: float = HEARTBEAT_S
        #: when each site's next full heartbeat is due (the sites' LMSs beat out of phase); set by the first run
        self.next_full: dict[str, float] = {}
        self.dashboard: Dashboard | None = None
        self.now = 1_750_000_000.0
        self.sites = {f"site-{s:02d}": {f"s{s:02d}-pc{a:03d}": Presence.OFFLINE for a in range(per_site)}
                      for s in range(sites)}
        self.admin = Principal("bench", Role.ADMIN)
        self.client_rows = [{"id": i, "name": f"course {i}", "teacher": "T", "color": "#6750A4", "note": None}
                            for i in range(12)]

    def clock(self) -> float:
        return self.now

    @property
    def meter(self) -> Meter:
        return self.counter.meter

    def up_message(self, handler: str, event: dict[str, Any]) -> dict[str, Any]:
        """``event``: the message plus the ``site_id`` of the topic it is published on."""
        message = {k: v for k, v in event.items() if k != "site_id"}
        payload = json.dumps(message).encode()
        rule = rule_for_handler(handler)
        assert rule.channel is not None, f"{handler} takes IoT Core's lifecycle events, not a site's messages"
        topic = site_up(Namespace("bench", "bench"), event["site_id"], rule.channel)  # what the LMS publishes on
        metered = max(1, math.ceil(len(payload) / 5120))
        if topic.startswith(BASIC_INGEST_PREFIX):
            self.meter.ingest_messages += metered
        else:
            self.meter.iot_messages += metered
        self.meter.rule_triggers += 1
        part = self.meter.part(handler)
        part.rule_triggers += 1
        part.ingest_messages += metered if topic.startswith(BASIC_INGEST_PREFIX) else 0
        self.meter.invoke(handler)
        with self.counter.within(handler):
            return RULE_HANDLERS[handler](event_for(rule, topic, payload), None)

    def heartbeat(self, site_id: str, changed: list[str] | None = None) -> None:
        """The site's full heartbeat, or (``changed``) a changed-only one listing those agents; each states the
        full period, as the LMS's do (``edge/lms/cloud/site_heartbeats.py``)."""
        agents = [{"agent_id": a, "status": p.value, "version": "1.0.0", "hostname": a}
                  for a, p in self.sites[site_id].items() if changed is None or a in changed]
        self.up_message("site_heartbeat", {"type": "site_heartbeat", "v": 1, "timestamp": self.now,
                                           "lms_version": "1.0.0", "full": changed is None, "agents": agents,
                                           "full_period_s": self.heartbeat_s, "site_id": site_id})

    def api(self) -> None:
        self.meter.api_requests += 1
        self.meter.part("api_handler").api_requests += 1
        self.meter.invoke("api_handler")

    def command(self, site_id: str) -> None:
        self.api()
        services = container.get()
        targets = tuple(a for a, p in self.sites[site_id].items() if p is Presence.ONLINE)[:40]
        if not targets:
            return
        with self.counter.within("api_handler"):
            record = services.commands.create(CommandRequest("ping", {}, targets), self.admin)
        # the LMS batches per-agent progress into one message each, every result with the hops passed so far
        # (issue 14). Conservative: an answer within the LMS's 1 s hold leaves as one message, not two.
        hops = {"received": self.now + 0.05, "delivered": self.now + 0.06}
        done = {"started": self.now + 0.07, "finished": self.now + 0.08}
        for status, more in (("delivered", {}), ("succeeded", done)):
            results = [{"request_id": record.command_id, "agent_id": a, "status": status, "timestamp": self.now,
                        "hops": {**hops, **more}} for a in targets]
            self.up_message("command_results", {"type": "command_results", "v": 1, "results": results,
                                                "site_id": site_id})

    def sync(self, client: int, changed: bool) -> None:
        self.api()
        rows = self.client_rows + ([{"id": 999, "name": f"v{self.now}", "teacher": "", "color": "", "note": None}]
                                   if changed else [])
        with self.counter.within("api_handler"):
            container.get().classtop_clients.sync(f"client-{client:03d}", rows, [],
                                                  f"10.0.{client // 256}.{client % 256}")

    def sweep(self) -> None:
        self.meter.invoke("expire_commands")
        with self.counter.within("expire_commands"):
            expire_commands(None)

    def rollup_hour(self) -> None:
        """Every agent's closed hour of 5-minute metric rollups, as the LMS sends them (``MetricRollupSync``: whole
        hours, at most ``MAX_ROLLUPS`` buckets a message, values rounded to 2 decimals)."""
        hour = int(self.now) // ROLLUP_HOUR_S * ROLLUP_HOUR_S - ROLLUP_HOUR_S
        for site_id, agents in self.sites.items():
            rollups = [{"agent_id": a, "start": hour + i * ROLLUP_PERIOD_S, "period_s": ROLLUP_PERIOD_S,
                        "samples": 20, "cpu_min": 3.17, "cpu_avg": 21.43 + n % 7, "cpu_max": 87.5,
                        "mem_min": 41.08, "mem_avg": 47.66, "mem_max": 58.91, "disk_min": 61.27,
                        "disk_avg": 61.34, "disk_max": 61.42, "net_rx_min": 1210, "net_rx_avg": 35872 + n,
                        "net_rx_max": 912044, "net_tx_min": 804, "net_tx_avg": 12391, "net_tx_max": 301277}
                       for n, a in enumerate(agents) for i in range(ROLLUP_HOUR_S // ROLLUP_PERIOD_S)]
            for first in range(0, len(rollups), MAX_ROLLUPS):
                self.up_message("site_metrics", {"type": "metric_rollups", "v": 1, "site_id": site_id,
                                                 "rollups": rollups[first:first + MAX_ROLLUPS]})

    def run(self, minutes: float, *, boot: float = 0.0, shutdown: float = 0.0, churn_per_hour: float = 0.0,
            commands: int = 0, clients: int = 0, changed_syncs: int = 0) -> None:
        """Advance ``minutes`` of simulated time in :data:`TICK_S` steps. ``boot`` / ``shutdown``: the share of agents
        that come online / go offline, spread evenly; ``churn_per_hour``: share of agents flipping per hour.

        As the LMS sends them: each site's full heartbeat every ``heartbeat_s`` (the sites out of phase), and each
        agent's change at once in a changed-only heartbeat of its own (the LMS's 0.5 s debounce joins changes of one
        site that close together; spread evenly over the sample, as here, they are minutes apart)."""
        tick = min(TICK_S, self.heartbeat_s)
        if not self.next_full:
            self.next_full = {site_id: self.now + n * self.heartbeat_s / len(self.sites)
                              for n, site_id in enumerate(self.sites)}
        steps = int(minutes * 60 / tick)
        all_agents = [(s, a) for s, agents in self.sites.items() for a in agents]
        to_boot = all_agents[: int(len(all_agents) * boot)]
        to_stop = all_agents[: int(len(all_agents) * shutdown)]
        flips = int(len(all_agents) * churn_per_hour * minutes / 60)
        command_steps = {int(i * steps / commands) for i in range(commands)} if commands else set()
        sync_every = max(1, int(300 / tick))
        for step in range(steps):
            changes: list[tuple[str, str]] = []
            for s, a in to_boot[step * len(to_boot) // steps:(step + 1) * len(to_boot) // steps]:
                self.sites[s][a] = Presence.ONLINE
                changes.append((s, a))
            for s, a in to_stop[step * len(to_stop) // steps:(step + 1) * len(to_stop) // steps]:
                self.sites[s][a] = Presence.OFFLINE
                changes.append((s, a))
            for i in range(step * flips // steps, (step + 1) * flips // steps):
                s, a = all_agents[(i * 7919) % len(all_agents)]
                self.sites[s][a] = Presence.OFFLINE if self.sites[s][a] is Presence.ONLINE else Presence.ONLINE
                changes.append((s, a))
            for s, a in changes:
                self.heartbeat(s, [a])
            for site_id in self.sites:
                if self.now >= self.next_full[site_id]:
                    self.heartbeat(site_id)
                    self.next_full[site_id] += self.heartbeat_s
            if step in command_steps:
                self.command(sorted(self.sites)[step % len(self.sites)])
            if clients and step % sync_every == 0:
                for c in range(clients):
                    self.sync(c, changed=c < changed_syncs and step == 0)
            if step % sync_every == 0:
                self.sweep()
            if self.dashboard is not None:
                self.dashboard.poll_for(tick)
            if int(self.now) // 60 != int(self.now + tick) // 60:
                self.summary_pass()
            self.now += tick

    def summary_pass(self) -> None:
        """The overview summary's pass, which ``evaluate_alerts`` runs every minute after the alerts, on the sites'
        listing they read (the invocation and that listing are counted by :meth:`alert_schedule`, sampled once and
        scaled to every minute of the day)."""
        summaries = container.get().site_summaries
        saved, self.counter.meter = self.counter.meter, Meter()
        try:
            listing = summaries.listing()  # the alerts' read, metered by alert_schedule
        finally:
            self.counter.meter = saved
        with self.counter.within("evaluate_alerts"):
            summaries.reconcile(listing)


    def alert_changes(self, count: int) -> None:
        """``count`` agents' alerts fire, then resolve: each change one ``SiteAlerts`` through its site's outbox."""
        all_agents = [(s, a) for s, agents in self.sites.items() for a in agents][:count]
        for seq, state in ((1, "firing"), (2, "resolved")):
            for n, (site_id, agent_id) in enumerate(all_agents):
                target = {"kind": "agent", "agent_id": agent_id, "camera_id": None}
                record = {"alert_id": f"{n:032x}", "key": f"{n:032x}", "seq": seq, "rule_id": "disk-full",
                          "rule_scope": "tenant", "rule_name": "Disk almost full", "severity": "error",
                          "condition_kind": "metric_threshold", "target": target, "state": state,
                          "opened_at": self.now, "changed_at": self.now,
                          **({"resolved_at": self.now} if state == "resolved" else {})}
                self.up_message("site_alerts", {"type": "site_alerts", "v": 1, "alerts": [record],
                                                "site_id": site_id})

    def alert_schedule(self) -> None:
        """One ``evaluate_alerts`` run, without the overview summary's pass (:meth:`run` meters that every minute):
        the sites' listing, the alerts on it, the deliveries' retries."""
        self.meter.invoke("evaluate_alerts")
        with self.counter.within("evaluate_alerts"):
            services = container.get()
            services.alert_evaluator.run(services.site_summaries.listing().sites)
            services.notifier.retry_due()



def naive_minute(tenant: Tenant, counter: DynamoCounter) -> Meter:
    """The naive design: each agent sends its status every 60 s and a Lambda writes its item."""
    repo = container.get().agents._agents  # the repository under the service
    counter.meter = Meter()
    with change_mark.deferred():  # the naive design has no dashboard marks: one bump at the end, not one per item
        _naive_writes(tenant, repo)
    return counter.meter


def _naive_writes(tenant: Tenant, repo: Any) -> None:
    for site_id, agents in tenant.sites.items():
        for agent_id, presence in agents.items():
            tenant.meter.iot_messages += 1
            tenant.meter.rule_triggers += 1
            tenant.meter.lambda_invocations += 1
            current = repo.get(agent_id)
            repo.save(Agent(agent_id, site_id, presence, last_seen=tenant.now, version="1.0.0", hostname=agent_id,
                            changed_at=tenant.now, revision=current.revision if current else None))

