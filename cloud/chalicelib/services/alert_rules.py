"""The tenant's alert rules (docs/alerts.md#tenant-rules-in-the-cloud): validated with the shared models, stored,
and written into each site's ``alerts:rules`` shadow (``AlertRulesDocument``: the rules whose scope takes the site),
where its LMS reads them. Rules that would match nothing are refused: a scope naming a site or an agent that does
not exist. Until the tenant sets a rule, :data:`DEFAULT_RULES` are in force (installed on first read)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from chalicelib.adapters.shadows import ShadowError, ShadowStore
from chalicelib.domain.site import Site
from chalicelib.errors import BadRequest, Conflict, NotFound
from chalicelib.repositories.agent import AgentRepository
from chalicelib.repositories.alert_setting import AlertSettingRepository
from chalicelib.repositories.site import SiteRepository
from shared.messages.agent import Severity
from shared.messages.alert import (
    MAX_TENANT_RULES,
    AgentOfflineCondition,
    AlertRule,
    AlertRulesDocument,
    CloudLinkDownCondition,
    Comparison,
    LmsOfflineCondition,
    MetricName,
    MetricThresholdCondition,
)
from shared.messages.shadow import MAX_SHADOW_STATE_BYTES
from shared.names import Namespace
from shared.topics import alert_rules_shadow_name, site_thing_name

log = logging.getLogger(__name__)

#: the rules in force until the tenant sets its own
DEFAULT_RULES: tuple[AlertRule, ...] = (
    AlertRule(rule_id="site-unreachable", name="Site unreachable (LMS silent)", severity=Severity.CRITICAL,
              condition=LmsOfflineCondition(for_s=180)),
    AlertRule(rule_id="cloud-link-down", name="Site's cloud link down", severity=Severity.ERROR,
              condition=CloudLinkDownCondition(for_s=120)),
    AlertRule(rule_id="agent-offline", name="Agent offline", severity=Severity.WARNING,
              condition=AgentOfflineCondition(for_s=600)),
    AlertRule(rule_id="disk-full", name="Disk almost full", severity=Severity.ERROR,
              condition=MetricThresholdCondition(metric=MetricName.DISK_USED_PERCENT, op=Comparison.ABOVE,
                                                 threshold=90, clear=85)),
    AlertRule(rule_id="cpu-high", name="CPU busy", severity=Severity.WARNING,
              condition=MetricThresholdCondition(metric=MetricName.CPU_PERCENT, op=Comparison.ABOVE, threshold=90,
                                                 clear=80, for_s=300)),
)


@dataclass(frozen=True, slots=True)
class ShadowReport:
    sites_written: list[str] = field(default_factory=list)
    #: site -> why its shadow was not written (no IoT identity yet, IoT Core refused)
    sites_failed: dict[str, str] = field(default_factory=dict)


def rules_for_site(rules: list[AlertRule], site_id: str) -> AlertRulesDocument:
    return AlertRulesDocument(rules=[r for r in rules if r.scope.sites is None or site_id in r.scope.sites])


def compact(document: AlertRulesDocument) -> dict[str, Any]:
    """``document`` as JSON without the fields at their defaults (30 rules written whole pass AWS's 8 KB per
    shadow document), each condition keeping its ``kind`` (the discriminator); it parses back to ``document``."""
    data = document.model_dump(mode="json", exclude_defaults=True)
    for raw, rule in zip(data.get("rules", []), document.rules, strict=True):
        raw["condition"] = {**raw.get("condition", {}), "kind": rule.condition.kind}
    return data


class AlertRuleService:
    def __init__(self, settings: AlertSettingRepository, sites: SiteRepository, agents: AgentRepository,
                 shadows: ShadowStore, namespace: Namespace, clock: Callable[[], float]) -> None:
        self._settings = settings
        self._sites = sites
        self._agents = agents
        self._shadows = shadows
        self._namespace = namespace
        self._clock = clock

    def rules(self) -> list[AlertRule]:
        if not self._settings.defaults_installed():  # once: a tenant that deletes them does not get them back
            for rule in DEFAULT_RULES:
                self._settings.save_rule(rule, self._clock())
            self._settings.mark_defaults_installed(self._clock())
        return sorted(self._settings.rules(), key=lambda r: r.rule_id)

    def get(self, rule_id: str) -> AlertRule:
        rule = next((r for r in self.rules() if r.rule_id == rule_id), None)
        if rule is None:
            raise NotFound(f"unknown alert rule {rule_id}")
        return rule

    def put(self, rule: AlertRule) -> tuple[AlertRule, ShadowReport]:
        """Create or replace a rule (refused with the reason if it cannot match anything), then write the sites'
        shadows."""
        rules = [r for r in self.rules() if r.rule_id != rule.rule_id]
        if len(rules) >= MAX_TENANT_RULES:
            raise Conflict(f"at most {MAX_TENANT_RULES} alert rules per tenant (a site's shadow holds 8 KB): "
                           "delete one first")
        for site_id in rule.scope.sites or ():
            site = self._sites.get(site_id)
            if site is None or site.retired_at is not None:
                raise BadRequest(f"scope.sites: no site {site_id}: the rule would match nothing there")
        for agent_id in rule.scope.agents or ():
            agent = self._agents.get(agent_id)
            if agent is None or (rule.scope.sites is not None and agent.site_id not in rule.scope.sites):
                raise BadRequest(f"scope.agents: no agent {agent_id} in the rule's sites: the rule would match nothing")
        size = len(json.dumps(compact(AlertRulesDocument(rules=[*rules, rule]))))
        if size > MAX_SHADOW_STATE_BYTES - 512:
            raise BadRequest(f"the rules would take {size} bytes of a site's shadow, over AWS's 8 KB")
        self._settings.save_rule(rule, self._clock())
        return rule, self.write_shadows([*rules, rule])

    def delete(self, rule_id: str) -> ShadowReport:
        self.get(rule_id)
        self._settings.delete_rule(rule_id)
        return self.write_shadows([r for r in self.rules() if r.rule_id != rule_id])

    def write_shadows(self, rules: list[AlertRule]) -> ShadowReport:
        """Write every live site's ``alerts:rules`` shadow (its rules replace the previous list)."""
        report = ShadowReport()
        for site in self._live_sites():
            document = rules_for_site(rules, site.site_id)
            payload = json.dumps({"state": {"desired": compact(document)}}).encode()
            thing = site_thing_name(self._namespace, site.site_id)
            try:
                self._shadows.update(thing, alert_rules_shadow_name(), payload)
            except ShadowError as exc:
                report.sites_failed[site.site_id] = exc.message
                continue
            report.sites_written.append(site.site_id)
        return report

    def _live_sites(self) -> Iterator[Site]:
        cursor: str | None = None
        while True:
            page = self._sites.page(limit=500, cursor=cursor)
            yield from (s for s in page.items if s.retired_at is None)
            cursor = page.cursor
            if cursor is None:
                return

