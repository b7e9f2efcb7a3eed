"""The cloud's own conditions (docs/alerts.md#evaluated-in-the-cloud), on a schedule: ``lms_offline`` and
``cloud_link_down``, which an LMS cannot report about itself. Each run reads indexed items only: the tenant's
sites (``by_tenant_keys``, then their items: ``SiteRepository.page``), each site's open alerts (``by_open_site``),
the rules and silences (one Query each).

* ``cloud_link_down`` holds while the site's link hop is down (IoT Core's lifecycle event, or missed heartbeats);
  ``lms_offline`` while the site is unreachable and no lifecycle event says the link itself went down. Each holds
  for ``for_s`` counted from when the site became unreachable.
* One site alert per site at most: while one cloud alert is open for a site no other opens (the first rule that
  holds, shortest ``for_s`` first). It names how many agents it covers; the site's agents' own alerts send no
  notification meanwhile (``AlertService.ingest``), and the cloud raises none for them.
* It resolves when its condition no longer holds (the site's heartbeats are back).
* Flap damping, the rule the LMS applies (``FlapDamping`` in ``shared/messages/alert.py``), over the recent
  firings and resolutions of the rule on the site (``alert_setting`` item ``flaps/<site>#<rule>``, read by key and
  only at a change or while an alert flaps): an alert opening past ``max_changes`` opens *flapping* and notifies
  nobody; a clearing that would flap keeps the alert open, flapping (the next ``seq``, no notification); a flapping
  alert with no change for ``window_s`` resolves with one notification if its condition cleared, else stops flapping
  (one "fired" notification).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from chalicelib.domain.alert import Alert, AlertOrigin
from chalicelib.domain.site import Site
from chalicelib.repositories.alert import AlertRepository
from chalicelib.repositories.alert_setting import AlertSettingRepository
from chalicelib.repositories.site import SiteRepository
from chalicelib.services.alert_rules import AlertRuleService
from chalicelib.services.alerts import AlertService, site_open
from chalicelib.services.site_presence import LIFECYCLE_DOWN, SiteReach, site_reach
from shared.messages.alert import CLOUD_ONLY_CONDITIONS, AlertRule, AlertState, TargetKind, alert_key
from shared.messages.structs import AlertRecord, AlertTarget, build


@dataclass(frozen=True, slots=True)
class EvaluationReport:
    sites: int = 0
    opened: int = 0
    resolved: int = 0


def holds(rule: AlertRule, reach: SiteReach) -> bool:
    """Whether ``rule``'s cloud condition holds for a site (ignoring its duration)."""
    if reach.reachable:
        return False
    if rule.condition.kind == "cloud_link_down":
        return reach.link_down
    return rule.condition.kind == "lms_offline" and reach.link.reason not in LIFECYCLE_DOWN


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class AlertEvaluator:
    def __init__(self, sites: SiteRepository, alerts: AlertRepository, service: AlertService,
                 rules: AlertRuleService, stale_s: float, clock: Callable[[], float],
                 settings: AlertSettingRepository) -> None:  # fmt: skip
        self._sites = sites
        self._settings = settings
        self._alerts = alerts
        self._service = service
        self._rules = rules
        self._stale_s = stale_s
        self._clock = clock

    def run(self, listed: Iterable[Site] | None = None) -> EvaluationReport:
        """Evaluate every open site of ``listed`` (every site of the tenant: ``evaluate_alerts`` passes the listing
        it reads once for this and the overview summary's pass), else of the tenant's sites read page by page."""
        now = self._clock()
        rules = sorted((r for r in self._rules.rules() if r.enabled and r.condition.kind in CLOUD_ONLY_CONDITIONS),
                       key=lambda r: (r.condition.for_s, r.rule_id))
        sites = opened = resolved = 0
        for site in self._every_site() if listed is None else listed:
            if not site_open(site):
                continue
            sites += 1
            in_scope = [x for x in rules if x.scope.sites is None or site.site_id in x.scope.sites]
            o, r = self._evaluate(site, in_scope, now)
            opened, resolved = opened + o, resolved + r
        return EvaluationReport(sites, opened, resolved)

    def _every_site(self) -> Iterator[Site]:
        cursor: str | None = None
        while True:
            page = self._sites.page(limit=500, cursor=cursor)
            yield from page.items
            cursor = page.cursor
            if cursor is None:
                return

    def _evaluate(self, site: Site, rules: list[AlertRule], now: float) -> tuple[int, int]:
        reach = site_reach(site, now, self._stale_s)
        open_alerts = [a for a in self._alerts.open_of_site(site.site_id) if a.origin is AlertOrigin.CLOUD]
        resolved = 0
        by_rule = {r.rule_id: r for r in rules}
        for alert in open_alerts:
            rule = by_rule.get(alert.record.rule_id)
            if rule is None:
                self._service.close(alert, "the rule no longer applies")
                resolved += 1
            elif self._settle(site, alert, rule, holds(rule, reach), reach, now):
                resolved += 1
        if len(open_alerts) > resolved or reach.reachable:
            return 0, resolved
        since = reach.unreachable_since or site.last_heartbeat
        rule = next((r for r in rules if holds(r, reach) and now - since >= r.condition.for_s), None)
        if rule is None:
            return 0, resolved
        self._open(site, rule, reach, since, now)
        return 1, resolved

    def _changes(self, site: Site, rule: AlertRule, now: float) -> list[float]:
        window = rule.damping.window_s
        return [at for at in self._settings.flap_changes(site.site_id, rule.rule_id) if at >= now - window]

    def _changed(self, site: Site, rule: AlertRule, changes: list[float], now: float) -> None:
        self._settings.save_flap_changes(site.site_id, rule.rule_id, [*changes, now], now, rule.damping.window_s)

    def _settle(self, site: Site, alert: Alert, rule: AlertRule, still: bool, reach: SiteReach, now: float) -> bool:
        """An open cloud alert: resolved (True) when its condition cleared, unless flap damping keeps it open."""
        damping = rule.damping
        if not alert.record.flapping and still:
            return False
        changes = self._changes(site, rule, now)
        if alert.record.flapping:
            if not damping.stable(damping.recent(changes, now), alert.record.changed_at, now):
                return False
            if still:  # stable and still down: an ordinary firing alert again
                self._service.update(alert, flapping=False, notify="fired")
                return False
        elif damping.holds_at_clearing(False, damping.recent(changes, now)):
            self._service.update(alert, flapping=True)
            return False
        self._changed(site, rule, changes, now)
        self._service.close(alert, "the site is reachable again" if reach.reachable else "the rule no longer applies")
        return True

    def _open(self, site: Site, rule: AlertRule, reach: SiteReach, since: float, now: float) -> None:
        changes = self._changes(site, rule, now)
        flapping = rule.damping.flaps_at_firing(rule.damping.recent(changes, now) + 1)
        self._changed(site, rule, changes, now)
        target = build(AlertTarget, kind=TargetKind.SITE)
        hop = reach.link if reach.link_down else reach.lms
        record = build(
            AlertRecord, alert_id=uuid.uuid4().hex, key=alert_key("tenant", rule.rule_id, target), seq=1,
            rule_id=rule.rule_id,
            rule_scope="tenant", rule_name=rule.name, severity=rule.severity, condition_kind=rule.condition.kind,
            target=target, state=AlertState.FIRING, opened_at=now, changed_at=now, covers=site.agent_count,
            flapping=flapping,
            message=(f"site {site.site_id} unreachable since {_iso(since)} ({hop.reason.value}); "
                     f"covers {site.agent_count} agent(s), whose own alerts are held meanwhile"),
        )
        alert = Alert(site.site_id, record, AlertOrigin.CLOUD)
        if self._alerts.apply(site.site_id, record, AlertOrigin.CLOUD) and not flapping \
                and not self._service.silenced(alert):  # fmt: skip
            self._service.notify(alert, "fired")
