"""The site's alerting put together (:class:`Alerting`): rules, evaluator, alert book, suppressions, the site
webhook and the alerts' way to the cloud (docs/alerts.md#on-the-lms).

Wiring (:mod:`edge.lms.service_steps`): the registry's metrics, presence and event listeners and the router's command
results feed the evaluator; a one-second timer asks whether the site broker and the cloud link are up and runs
the evaluator's durations; every alert change is stored, put in the outbox as a ``SiteAlerts`` on
``up/alerts`` (in order, resent until acknowledged, queued while the link is down), and notified on the site
webhook unless silenced or flapping. ``cloud_link_down`` stays on site (the cloud raises its own).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from edge.lms.agents.agent_view import AgentView
from edge.lms.alerts.alert_rows import AlertBook
from edge.lms.alerts.alert_tracks import LOCAL_ONLY_KINDS
from edge.lms.alerts.class_periods import ClassPeriods
from edge.lms.alerts.evaluator import AlertEvaluator
from edge.lms.alerts.rule_book import RuleBook, SiteLabels
from edge.lms.alerts.rules_shadow import OutboxSink
from edge.lms.alerts.site_webhook import SiteWebhook
from edge.lms.alerts.suppressions import Suppressions
from edge.lms.config.alert_settings import AlertSettings
from edge.lms.store import Store
from shared import topics
from shared.messages.alert import AlertRecord, SiteAlerts
from shared.names import Namespace
from shared.topics import is_valid_id
from shared.worker_thread import WorkerThread

log = logging.getLogger(__name__)

TICK_S = 1.0
PRUNE_EVERY_S = 3600.0
LABELS_EVERY_S = 30.0


class Alerting:
    """The alerts feature's service; the API reaches its parts as attributes (``rules``, ``suppressions``,
    ``book``, ``webhook``, ``evaluator``)."""

    def __init__(
        self, store: Store, settings: AlertSettings, *, namespace: Namespace, site_id: str,
        known_agents: Callable[[], list[str]], webhook_secret: str | None,
        site_connected: Callable[[], bool] = lambda: True, clock: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        self._store = store
        self._settings = settings
        self._clock = clock
        self._known_agents = known_agents
        self._site_connected = site_connected
        self._cloud_connected: Callable[[], bool] | None = None
        self._outbox: OutboxSink | None = None
        self._topic = topics.site_up(namespace, site_id, topics.SiteUp.ALERTS)
        self.labels = SiteLabels(store)
        self.rules = RuleBook(store, self.labels, site_id=site_id, known_agents=known_agents).load()
        self.suppressions = Suppressions(store, self.labels, site_id=site_id, clock=clock).load()
        self.book = AlertBook(store)
        self.classes = ClassPeriods(store)
        self.webhook = SiteWebhook(store, settings, site_id=site_id, tenant=namespace.tenant, secret=webhook_secret,
                                   clock=clock)  # fmt: skip
        self.evaluator = AlertEvaluator(self, self.labels, site_id=site_id, clock=clock,
                                        in_maintenance=self.suppressions.in_maintenance,
                                        in_class=self.classes.in_class)  # fmt: skip
        self.evaluator.set_rules(self.rules.active())
        self.evaluator.restore(self.book.open_alerts())
        self.rules.add_listener(lambda: self.evaluator.set_rules(self.rules.active()))
        self._listeners: list[Callable[[AlertRecord], None]] = []
        self._worker = WorkerThread("lms-alerts", self._run)
        self._last_prune = 0.0
        self._last_labels = 0.0
        self.reported = 0

    # ------------------------------------------------------------ wiring

    def set_outbox(self, outbox: OutboxSink, cloud_connected: Callable[[], bool]) -> None:
        """The cloud side exists: alert changes go to the cloud from now on; the link's state is watched."""
        self._outbox = outbox
        self._cloud_connected = cloud_connected

    def add_listener(self, listener: Callable[[AlertRecord], None]) -> None:
        """``listener(record)`` after every stored change (the console's push channel): called under the evaluator's
        lock, so it must only hand the record on."""
        self._listeners.append(listener)

    def on_presence(self, view: AgentView) -> None:
        self.evaluator.on_presence(view.agent_id, view.online, view.status_changed_at)

    def on_command(self, agent_id: str, success: bool) -> None:
        self.evaluator.on_command(agent_id, success)

    def seed_presence(self, views: list[AgentView]) -> None:
        """At start: agents already offline start their offline durations from when they went offline. A stored row
        whose id is not an agent id (written by hand or by an older LMS) is left out, never a reason not to start."""
        for view in views:
            if not view.online and is_valid_id(view.agent_id):
                self.on_presence(view)

    def start(self) -> Alerting:
        self.webhook.start()
        self._worker.start()
        return self

    def stop(self) -> None:
        self._worker.stop()
        self.webhook.stop()

    # ------------------------------------------------------------ the sink

    def alert_changed(self, record: AlertRecord, *, notify: bool) -> None:
        """Every change, in order (called under the evaluator's lock)."""
        self.book.save(record)
        log.info("alert %s %s: %s on %s (seq %d%s)", record.alert_id[:8], record.state.value, record.rule_id,
                 record.target.key(), record.seq, ", flapping" if record.flapping else "")  # fmt: skip
        self.report(record)
        for listener in self._listeners:
            try:
                listener(record)
            except Exception:
                log.exception("alerts: a listener failed on %s", record.alert_id)
        if notify and not self.suppressions.silenced(record.rule_id, record.target.agent_id):
            try:
                self.webhook.notify(record)
            except Exception:
                log.exception("alerts: could not queue a webhook delivery of %s", record.alert_id)

    def report(self, record: AlertRecord) -> None:
        """Queue ``record`` for the cloud (a site-only LMS, or a local-only alert: nothing)."""
        if self._outbox is None or record.condition_kind in LOCAL_ONLY_KINDS:
            return
        message: BaseModel = SiteAlerts(alerts=[record])
        try:
            self._outbox.put(self._topic, message)
            self.reported += 1
        except Exception:
            log.exception("alerts: could not queue alert %s for the cloud", record.alert_id)

    # ------------------------------------------------------------ the timer

    def _run(self) -> None:
        while not self._worker.stopping.wait(TICK_S):
            try:
                self.tick()
            except Exception:
                log.exception("alerts: tick failed")

    def tick(self) -> None:
        now = self._clock()
        self.evaluator.set_site_broker(self._site_connected(), len(self._known_agents()))
        if self._cloud_connected is not None:
            self.evaluator.set_cloud_link(self._cloud_connected())
        if now - self._last_labels >= LABELS_EVERY_S:
            self._last_labels = now
            self.labels.invalidate()
            self.evaluator.labels_changed()
        self.evaluator.tick()
        if now - self._last_prune >= PRUNE_EVERY_S:
            self._last_prune = now
            pruned = self.book.prune(now - self._settings.history_days * 86400.0)
            if pruned:
                log.info("alerts: %d resolved alerts older than %g days forgotten", pruned,
                         self._settings.history_days)  # fmt: skip

    # ------------------------------------------------------------ the API's

    def summary(self) -> dict[str, Any]:
        open_alerts = self.evaluator.open_alerts()
        return {"open": len(open_alerts), "firing": sum(a.state.value == "firing" for a in open_alerts),
                "rules": len(self.rules.active()), "stats": vars(self.evaluator.stats),
                "webhook": self.webhook.counts(), "reported": self.reported}  # fmt: skip
