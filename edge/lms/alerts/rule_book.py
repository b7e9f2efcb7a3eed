"""The rules the LMS evaluates: the site's own (SQLite, the API's CRUD, defaults seeded on the first start) and the
tenant's (from the ``alerts:rules`` shadow, kept across restarts), and which agents a rule's scope covers.

A rule is checked against the site when it is set: a kind only the cloud can evaluate, ``sites`` in a site rule,
or a scope naming a group, tag or agent this site does not have is refused with the reason (:class:`AlertError`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from pydantic import ValidationError

from edge.lms.alerts.alert_errors import AlertError
from edge.lms.store import Store
from shared.messages import Severity
from shared.messages.alert import (
    CLOUD_ONLY_CONDITIONS,
    MAX_SITE_RULES,
    AgentOfflineCondition,
    AlertRule,
    AlertRulesDocument,
    CameraHealthCondition,
    ClassTopOfflineInClassCondition,
    CommandFailureRateCondition,
    Comparison,
    MetricName,
    MetricThresholdCondition,
    RuleScope,
)

#: ``lms_config`` keys: the tenant's rules in effect (JSON ``{"rules": [...], "version": n}``); defaults seeded
TENANT_RULES_KEY = "alert_tenant_rules"
DEFAULTS_SEEDED_KEY = "alert_defaults_seeded"


def default_rules() -> list[AlertRule]:
    """The site rules an LMS starts with (the site admin may change or delete them)."""
    return [
        AlertRule(rule_id="default-cpu", name="CPU above 90 % for 5 min", severity=Severity.WARNING,
                  condition=MetricThresholdCondition(metric=MetricName.CPU_PERCENT, op=Comparison.ABOVE,
                                                     threshold=90, clear=80, for_s=300)),
        AlertRule(rule_id="default-disk", name="Disk more than 90 % full", severity=Severity.ERROR,
                  condition=MetricThresholdCondition(metric=MetricName.DISK_USED_PERCENT, op=Comparison.ABOVE,
                                                     threshold=90, clear=85, for_s=60)),
        AlertRule(rule_id="default-agent-offline", name="Agent offline for 10 min", severity=Severity.WARNING,
                  condition=AgentOfflineCondition(for_s=600)),
        AlertRule(rule_id="default-camera", name="Camera unhealthy", severity=Severity.ERROR,
                  condition=CameraHealthCondition()),
        AlertRule(rule_id="default-command-failures", name="Half of an agent's commands fail",
                  severity=Severity.WARNING, condition=CommandFailureRateCondition()),
        AlertRule(rule_id="default-classtop-offline", name="ClassTop client offline in class",
                  severity=Severity.WARNING, condition=ClassTopOfflineInClassCondition(for_s=300)),
    ]  # fmt: skip


@dataclass(frozen=True, slots=True)
class ActiveRule:
    """A rule in force: its scope (``site`` or ``tenant``) beside it."""

    rule: AlertRule
    scope: Literal["site", "tenant"]


class SiteLabels:
    """Which groups and tags each agent has (read from the store, cached for ``ttl_s``)."""

    def __init__(self, store: Store, *, ttl_s: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._ttl_s = ttl_s
        self._clock = clock
        self._loaded_at = -1e18
        self._groups: dict[str, frozenset[str]] = {}
        self._tags: dict[str, frozenset[str]] = {}
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        with self._lock:
            self._loaded_at = -1e18

    def _load(self) -> None:
        now = self._clock()
        if now - self._loaded_at < self._ttl_s:
            return
        groups: dict[str, set[str]] = {}
        for name, agent_id in self._store.query("SELECT group_name, agent_id FROM agent_group_members"):
            groups.setdefault(agent_id, set()).add(name)
        tags: dict[str, set[str]] = {}
        for agent_id, tag in self._store.query("SELECT agent_id, tag FROM agent_tags"):
            tags.setdefault(agent_id, set()).add(tag)
        self._groups = {k: frozenset(v) for k, v in groups.items()}
        self._tags = {k: frozenset(v) for k, v in tags.items()}
        self._loaded_at = now

    def labels(self, agent_id: str) -> tuple[frozenset[str], frozenset[str]]:
        with self._lock:
            self._load()
            return self._groups.get(agent_id, frozenset()), self._tags.get(agent_id, frozenset())

    def group_names(self) -> set[str]:
        return {r[0] for r in self._store.query("SELECT name FROM agent_groups")}

    def tag_names(self) -> set[str]:
        return {r[0] for r in self._store.query("SELECT DISTINCT tag FROM agent_tags")}


def scope_covers(scope: RuleScope, site_id: str, agent_id: str | None, groups: frozenset[str],
                 tags: frozenset[str]) -> bool:  # fmt: skip
    """Whether ``scope`` covers this site's agent ``agent_id`` (``None``: the site itself)."""
    if scope.sites is not None and site_id not in scope.sites:
        return False
    if agent_id is None:
        return True
    if scope.agents is not None and agent_id not in scope.agents:
        return False
    if scope.groups is not None and not groups.intersection(scope.groups):
        return False
    return not (scope.tags is not None and not tags.intersection(scope.tags))


class RuleBook:
    """Site rules (CRUD) and the tenant's rules; :meth:`active` is what the evaluator runs. Thread-safe."""

    def __init__(self, store: Store, labels: SiteLabels, *, site_id: str,
                 known_agents: Callable[[], Iterable[str]]) -> None:  # fmt: skip
        self._store = store
        self._labels = labels
        self._site_id = site_id
        self._known_agents = known_agents
        self._lock = threading.Lock()
        self._site: dict[str, AlertRule] = {}
        self._tenant: list[AlertRule] = []
        self.tenant_version: int | None = None
        self._listeners: list[Callable[[], None]] = []

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Called (without arguments) after every change of the rules in force."""
        self._listeners.append(listener)

    def load(self) -> RuleBook:
        if self._store.get_config(DEFAULTS_SEEDED_KEY) is None:
            with self._store.transaction() as conn:
                for rule in default_rules():
                    conn.execute("INSERT OR IGNORE INTO alert_rules (rule_id, body, updated_at, updated_by) "
                                 "VALUES (?,?,?,?)", (rule.rule_id, rule.model_dump_json(), time.time(), "defaults"))
                self._store.write_config(conn, DEFAULTS_SEEDED_KEY, "1")
        site = {}
        for rule_id, body in self._store.query("SELECT rule_id, body FROM alert_rules ORDER BY rule_id"):
            try:
                site[rule_id] = AlertRule.model_validate_json(body)
            except ValidationError:
                continue  # a rule this version no longer reads: left in the table, not evaluated
        raw = self._store.get_config(TENANT_RULES_KEY)
        tenant: list[AlertRule] = []
        version = None
        if raw:
            try:
                data = json.loads(raw)
                tenant = AlertRulesDocument.model_validate(data["rules"]).rules
                version = data.get("version")
            except (ValueError, KeyError, TypeError):
                tenant = []
        with self._lock:
            self._site, self._tenant, self.tenant_version = site, tenant, version
        return self

    # ------------------------------------------------------------ reading

    def active(self) -> list[ActiveRule]:
        """The enabled rules this LMS evaluates (tenant rules the cloud alone can evaluate, or scoped to other
        sites, are left out)."""
        with self._lock:
            site = [ActiveRule(r, "site") for r in self._site.values() if r.enabled]
            tenant = [ActiveRule(r, "tenant") for r in self._tenant if r.enabled
                      and r.condition.kind not in CLOUD_ONLY_CONDITIONS
                      and (r.scope.sites is None or self._site_id in r.scope.sites)]  # fmt: skip
        return site + tenant

    def site_rules(self) -> list[AlertRule]:
        with self._lock:
            return sorted(self._site.values(), key=lambda r: r.rule_id)

    def tenant_rules(self) -> list[AlertRule]:
        with self._lock:
            return list(self._tenant)

    def site_rule(self, rule_id: str) -> AlertRule:
        with self._lock:
            rule = self._site.get(rule_id)
        if rule is None:
            raise AlertError(f"no site rule {rule_id!r}", 404)
        return rule

    # ------------------------------------------------------------ site rules

    def check(self, rule: AlertRule) -> None:
        """Refuse a site rule this LMS cannot evaluate or whose scope covers nothing here."""
        kind = rule.condition.kind
        if kind in CLOUD_ONLY_CONDITIONS:
            raise AlertError(f"a {kind} rule is evaluated in the cloud (an LMS cannot see its own absence); set it "
                             "as a tenant rule")  # fmt: skip
        scope = rule.scope
        if scope.sites is not None:
            raise AlertError("scope.sites is for tenant rules; a site rule covers this site only")
        if scope.groups is not None:
            missing = sorted(set(scope.groups) - self._labels.group_names())
            if missing:
                raise AlertError(f"scope.groups names groups this site does not have: {', '.join(missing)}")
        if scope.tags is not None:
            missing = sorted(set(scope.tags) - self._labels.tag_names())
            if missing:
                raise AlertError(f"scope.tags names tags no agent of this site has: {', '.join(missing)}")
        if scope.agents is not None:
            missing = sorted(set(scope.agents) - set(self._known_agents()))
            if missing:
                raise AlertError(f"scope.agents names agents this site does not have: {', '.join(missing[:20])}")
        if scope.agents is None and scope.groups is None and scope.tags is None:
            return
        self._labels.invalidate()  # groups and tags may have changed a moment ago
        if not any(scope_covers(scope, self._site_id, a, *self._labels.labels(a)) for a in self._known_agents()):
            raise AlertError("the scope matches no agent of this site (its groups, tags and agents do not overlap)")

    def put(self, rule: AlertRule, *, by: str, create: bool) -> AlertRule:
        """Create (``create``: refused if it exists) or replace a site rule, checked first."""
        self.check(rule)
        with self._lock:
            exists = rule.rule_id in self._site
            if create and exists:
                raise AlertError(f"site rule {rule.rule_id!r} exists already (PUT replaces it)", 409)
            if not create and not exists:
                raise AlertError(f"no site rule {rule.rule_id!r} (POST creates it)", 404)
            if not exists and len(self._site) >= MAX_SITE_RULES:
                raise AlertError(f"a site has at most {MAX_SITE_RULES} rules", 409)
            with self._store.transaction() as conn:
                conn.execute("INSERT INTO alert_rules (rule_id, body, updated_at, updated_by) VALUES (?,?,?,?) "
                             "ON CONFLICT(rule_id) DO UPDATE SET body = excluded.body, "
                             "updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                             (rule.rule_id, rule.model_dump_json(), time.time(), by))  # fmt: skip
            self._site[rule.rule_id] = rule
        self._changed()
        return rule

    def delete(self, rule_id: str) -> None:
        with self._lock:
            if rule_id not in self._site:
                raise AlertError(f"no site rule {rule_id!r}", 404)
            with self._store.transaction() as conn:
                conn.execute("DELETE FROM alert_rules WHERE rule_id = ?", (rule_id,))
            del self._site[rule_id]
        self._changed()

    # ------------------------------------------------------------ tenant rules

    def set_tenant(self, document: AlertRulesDocument, version: int | None) -> None:
        """The tenant's rules from the shadow, in force from now on and kept across restarts."""
        raw = json.dumps({"rules": document.model_dump(mode="json"), "version": version}, separators=(",", ":"))
        with self._lock:
            self._store.set_config(TENANT_RULES_KEY, raw)
            self._tenant, self.tenant_version = list(document.rules), version
        self._changed()

    def _changed(self) -> None:
        for listener in list(self._listeners):
            listener()
