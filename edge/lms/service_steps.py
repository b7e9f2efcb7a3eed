"""The LMS's service steps (:class:`ServiceSteps`): the registry, agent events, the change feed, metrics history,
the command router and offline queue, the ClassTop clients, alerting, the cloud link and the web API's listeners."""

from __future__ import annotations

import logging

import uvicorn

from edge.lms import __version__
from edge.lms.agents import MetricsHistory, Registry
from edge.lms.agents.retired_rows import RetiredRows
from edge.lms.agents.retirement import AgentRetirement
from edge.lms.alerts import AlertError, Alerting, load_secret
from edge.lms.api import Services, create_app
from edge.lms.api.classtop_plain import ClassTopOnly
from edge.lms.api.enrolment import SiteCaInfo
from edge.lms.api.server import uvicorn_config
from edge.lms.cloud import CloudLinkError, CloudSide
from edge.lms.commands import CommandQueue, Router
from edge.lms.enrolment.credential_rotation import CredentialRotation
from edge.lms.events import AgentEvents
from edge.lms.legacy import Admissions, LegacyHub, Timetables, snapshot_listener
from edge.lms.live import ChangeFeed, connect_alerts, connect_feed
from edge.lms.lms_parts import LmsParts, StartupError
from edge.lms.tls import HttpListener, ListenerError, plain_variant

log = logging.getLogger("edge.lms")


class ServiceSteps(LmsParts):
    """The start steps of the site's services (:meth:`edge.lms.process.Lms.start` orders them)."""

    def start_registry(self) -> None:
        assert self.store is not None and self.site is not None
        registry = Registry(self.store, presence_timeout_s=self.config.presence_timeout_s)
        registry.load(retired=RetiredRows(self.store).retired_ids())
        if self.enrolments is not None:
            self.enrolments.on_enrolled = registry.reinstate  # a retired agent enrolled again with a fresh token
        registry.attach(self.site)
        registry.start()
        self.lifecycle.on_stop("registry", registry.stop)
        self.registry = registry

    def start_events(self) -> None:
        """Agent events: stored, shown, and (once the cloud link exists) forwarded through the outbox."""
        assert self.store is not None and self.registry is not None
        cfg = self.config
        events = AgentEvents(self.store, namespace=cfg.namespace, site_id=cfg.site_id,
                             await_outbox=cfg.cloud is not None)
        events.start()
        self.lifecycle.on_stop("agent events", events.stop)
        self.registry.add_event_listener(events.add)
        self.registry.event_ack = events.ack_after_write
        self.events = events

    def start_change_feed(self) -> None:
        """What changes (presence, metrics, commands, events, camera health), for the console's open pages."""
        assert self.registry is not None and self.journal is not None
        self.changes = ChangeFeed()
        connect_feed(self.changes, self.registry, self.journal, self.events.progress if self.events else None)

    def start_history(self) -> None:
        assert self.store is not None and self.registry is not None
        cfg = self.config
        history = MetricsHistory(
            self.store, retention_days=cfg.metrics_retention_days, prune_interval_s=cfg.metrics_prune_interval_s
        ).start()
        self.lifecycle.on_stop("metrics history", history.stop)
        self.registry.add_metrics_listener(history.add)
        self.history = history

    def start_queue(self) -> None:
        assert self.store is not None and self.registry is not None and self.router is not None
        queue = CommandQueue(self.store, self.router, self.registry)
        queue.attach()
        queue.start()
        self.lifecycle.on_stop("offline command queue", queue.stop)
        self.queue = queue
        self.retirement = AgentRetirement(self.store, self.registry, enrolments=self.enrolments, queue=queue,
                                          site=self.site)  # fmt: skip

    def start_legacy(self) -> None:
        """Unchanged ClassTop clients: their WebSocket hub (the router's ``legacy`` transport) and timetables."""
        assert self.store is not None and self.registry is not None and self.router is not None
        self.admissions = Admissions(self.store, self.registry, self.config.classtop).load().start()
        self.lifecycle.on_stop("ClassTop admissions", self.admissions.stop)
        self.legacy = LegacyHub(self.registry, self.router, self.admissions).attach()
        self.timetables = Timetables(self.store)
        self.registry.add_event_listener(snapshot_listener(self.timetables))

    def start_alerts(self) -> None:
        """The site's alerting (edge.lms.alerts), built before the cloud link (which gives it the outbox and the
        tenant's rules) and started after it."""
        cfg = self.config
        if not cfg.alerts.enabled:
            return
        assert self.store is not None and self.registry is not None and self.router is not None
        try:
            secret = load_secret(cfg.alerts)
        except AlertError as exc:
            raise StartupError(f"[alerts]: {exc.message}") from None
        registry, site = self.registry, self.site
        self.alerting = Alerting(
            self.store, cfg.alerts, namespace=cfg.namespace, site_id=cfg.site_id, webhook_secret=secret,
            known_agents=registry.agent_ids,
            site_connected=lambda: site is not None and site.connected,
        )  # fmt: skip
        if self.changes is not None:
            connect_alerts(self.changes, self.alerting)

    def start_alert_evaluation(self) -> None:
        alerting = self.alerting
        if alerting is None:
            return
        assert self.registry is not None and self.router is not None
        if self.cloud is not None:
            alerting.set_outbox(self.cloud.outbox, lambda: self.cloud is not None and self.cloud.connected)
        alerting.seed_presence(self.registry.agents())
        self.registry.add_metrics_listener(alerting.evaluator.on_metrics)
        self.registry.add_listener(alerting.on_presence)
        self.registry.add_event_listener(alerting.evaluator.on_event)
        self.router.finish_listeners.append(alerting.on_command)
        alerting.start()
        self.lifecycle.on_stop("alerts", alerting.stop)

    def start_router(self) -> None:
        assert self.journal is not None and self.site is not None and self.registry is not None
        router = Router(self.site, self.registry, self.journal, default_timeout_s=self.config.command_timeout_s)
        router.exec_policy = self.config.exec_policy
        router.attach()
        router.start()
        self.lifecycle.on_stop("router", router.stop)
        self.router = router

    def start_cloud_link(self) -> None:
        """With ``[cloud]``: the IoT Core link and everything that goes through it (:mod:`edge.lms.cloud`)."""
        cfg = self.config
        if cfg.cloud is None:
            log.info("no [cloud] section: running as a site-only LMS")
            return
        assert self.store is not None and self.registry is not None and self.router is not None
        events = self.events
        try:
            self.cloud = CloudSide.start(
                cfg, store=self.store, registry=self.registry, router=self.router, lifecycle=self.lifecycle,
                lms_version=__version__, on_outbox=events.set_outbox if events is not None else lambda _outbox: None,
                log_files=self.log_file.files if self.log_file is not None else None,
                queue=self.queue, progress=events.progress if events is not None else None,
                local_config=self.local_config, applied=self.applied_cloud_config, apply_config=self.apply_config,
                retirement=self.retirement, alerting=self.alerting,
            )  # fmt: skip
        except CloudLinkError as exc:
            raise StartupError(str(exc)) from None

    def start_api(self) -> None:
        cfg = self.config
        assert self.store and self.registry and self.router and self.site
        assert self.tokens and self.accounts and self.history and self.queue and self.journal and self.timetables
        assert self.admissions is not None
        assert self.retirement is not None and self.changes is not None
        services = Services(
            config=cfg, store=self.store, registry=self.registry, router=self.router, site_mqtt=self.site,
            cloud=self.cloud, version=__version__, tokens=self.tokens, accounts=self.accounts, history=self.history,
            queue=self.queue,
            journal=self.journal, legacy=self.legacy, timetables=self.timetables, admissions=self.admissions,
            credential_rotation=None if self.broker_credentials is None or self.router is None
            else CredentialRotation(self.broker_credentials, self.router),
            retirement=self.retirement, changes=self.changes, alerting=self.alerting,
        )
        self.services = services
        if self.config is not cfg:  # the cloud's configuration changed while the API was being built
            self.apply_config(self.config)
        assert self.tls is not None
        cert_file, key_file = self.tls.http_certificate()
        files = self.tls.files
        site_ca = SiteCaInfo(files.ca_pem, files.fingerprint)
        self.tls.switch_hooks.append(site_ca.update)
        app = create_app(services, enrolments=self.enrolments, events=self.events, site_ca=site_ca)
        config = uvicorn_config(app, cert_file=cert_file, key_file=key_file)
        plain = cfg.classtop_plain_http
        plain_config = None if plain is None else plain_variant(config, ClassTopOnly(app, cfg.http_port))
        self.tls.http_listener = self._listen("web API", config, cfg.http_host, cfg.http_port, named=True)
        self.http = self.tls.http_listener.server
        self.lifecycle.on_stop("change feed", services.changes.close)  # before the listener: its streams end first
        if plain is not None and plain_config is not None:
            log.warning(
                "plain HTTP for ClassTop clients on %s:%d ([classtop_plain_http], an explicit opt-in): their "
                "timetables and remote commands travel in clear; nothing else is served there",
                plain.host, plain.port,
            )  # fmt: skip
            self._listen("ClassTop plain-HTTP listener", plain_config, plain.host, plain.port)

    def _listen(self, name: str, config: uvicorn.Config, host: str, port: int, *, named: bool = False) -> HttpListener:
        """Serve ``config`` on ``host:port``; ``named``: also the operator's ``tls_cert_file`` for its DNS names."""
        try:
            certificate = self.tls.named_certificate(self.config) if named and self.tls is not None else None
            listener = HttpListener(name, config, host, port, named=certificate).start()
        except ListenerError as exc:
            raise StartupError(str(exc)) from None
        self.lifecycle.on_stop(name, listener.stop)
        log.info("%s on %s://%s:%d", name, listener.scheme, host, port)
        return listener
