"""The LMS process: one site's parts, started in order and stopped in reverse (``python -m edge.lms`` runs it).

Start-up is the list of ``start_*`` steps in :meth:`Lms.start` (one :class:`~shared.lifecycle.Lifecycle`); each
step registers how to undo itself, and shutdown runs those in reverse. A step that cannot succeed raises
:class:`StartupError` with what to do (``python -m edge.lms`` then exits 1).

Memory: ``python -m edge.lms`` limits glibc to two malloc arenas before any thread starts, and while it runs the main
thread gives the C heap's free pages back every :data:`TRIM_EVERY_S` (:mod:`shared.c_heap`). The LMS's thirty-odd
threads share one SQLite connection: with an arena per thread, each arena kept its own share of SQLite's page cache
and its own free holes, and the resident size crept up for hours under the soak's load
(docs/operations.md, "Soak").
"""

from __future__ import annotations

import gc
import logging
import time

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
from edge.lms.auth import Accounts, AuthError, Tokens
from edge.lms.auth.accounts import FIRST_ADMIN
from edge.lms.cloud import AppliedCloudConfig, CloudLinkError, CloudSide, startup_config
from edge.lms.commands import CommandLog, CommandQueue, Router
from edge.lms.config import LmsConfig
from edge.lms.enrolment import BrokerAddress, BrokerCredentials, CredentialsError, Enrolments
from edge.lms.enrolment.credential_rotation import CredentialRotation
from edge.lms.events import AgentEvents
from edge.lms.legacy import Admissions, LegacyHub, Timetables, is_classtop_client, snapshot_listener
from edge.lms.live import ChangeFeed, connect_alerts, connect_feed
from edge.lms.log_file import LmsLogFile
from edge.lms.schema import SCHEMA_VERSION
from edge.lms.store import DatabaseLock, Store, StoreError, check_schema
from edge.lms.tls import (
    HttpListener,
    ListenerError,
    LiveTls,
    SiteCaError,
    SiteTls,
    plain_variant,
)
from shared import c_heap, topics
from shared.errors import MqttError
from shared.lifecycle import Lifecycle
from shared.messages import Presence, Status
from shared.mqtt import MqttClient, TlsSettings

log = logging.getLogger("edge.lms")

#: how often (s) the running LMS gives the C heap's free pages back to the operating system (``malloc_trim``)
TRIM_EVERY_S = 60.0


class StartupError(Exception):
    """A start step failed in a way that retrying will not fix (the message says what to do)."""


class Lms:
    """The LMS process: its parts, started in order and stopped in reverse."""

    def __init__(self, config: LmsConfig) -> None:
        self.config = config
        #: the configuration file as loaded (``config`` is it, with the cloud's settings laid over it when any)
        self.local_config = config
        self.applied_cloud_config: AppliedCloudConfig | None = None
        self.services: Services | None = None
        self.lifecycle = Lifecycle()
        self.stop_event = self.lifecycle.stop_event
        self.store: Store | None = None
        self.journal: CommandLog | None = None
        self.site: MqttClient | None = None
        self.registry: Registry | None = None
        self.router: Router | None = None
        self.cloud: CloudSide | None = None
        self.http: uvicorn.Server | None = None
        self.tokens: Tokens | None = None
        self.accounts: Accounts | None = None
        self.changes: ChangeFeed | None = None
        self.history: MetricsHistory | None = None
        self.queue: CommandQueue | None = None
        self.retirement: AgentRetirement | None = None
        self.enrolments: Enrolments | None = None
        self.legacy: LegacyHub | None = None
        self.admissions: Admissions | None = None
        self.timetables: Timetables | None = None
        self.events: AgentEvents | None = None
        self.tls: LiveTls | None = None
        self.broker_credentials: BrokerCredentials | None = None
        self.log_file: LmsLogFile | None = None
        self.alerting: Alerting | None = None

    # ------------------------------------------------------------ the steps

    def start(self) -> None:
        self.lifecycle.start([
            self.start_database_lock,
            self.start_log_file,
            self.start_site_tls,
            self.start_store,
            self.start_credentials,
            self.start_site_broker,
            self.start_registry,
            self.start_history,
            self.start_events,
            self.start_change_feed,
            self.start_router,
            self.start_queue,
            self.start_legacy,
            self.start_alerts,
            self.start_cloud_link,
            self.start_alert_evaluation,
            self.connect_site_broker,
            self.start_api,
            self.start_tls_renewal,
        ])
        # What start-up made (modules, models, the API's routes: ~500,000 objects) lives as long as the process:
        # out of the collector's sight, a full collection walks only what came since (at 10,000 agents each one
        # took tens of milliseconds of the GIL, the command round trip's p99 and the intake's CPU).
        gc.freeze()

    def start_database_lock(self) -> None:
        """First, before anything is written: refuse a database newer than this LMS (nothing touched), then hold
        the database's lock file while running (a second LMS, or a ``restore``, is refused)."""
        try:
            check_schema(self.config.db_path, SCHEMA_VERSION, version=__version__)
            lock = DatabaseLock(self.config.db_path).acquire(f"LMS {__version__}")
        except StoreError as exc:
            raise StartupError(str(exc)) from None
        self.lifecycle.on_stop("database lock", lock.release)

    def start_log_file(self) -> None:
        """The LMS's own log in a rotating file beside the database (``[log_file]``; logs on request read it)."""
        if not self.config.log_file.enabled:
            return
        try:
            self.log_file = LmsLogFile(self.config.log_path, self.config.log_file).open()
        except OSError as exc:
            raise StartupError(f"cannot open the log file {self.config.log_path}: {exc}") from None
        self.lifecycle.on_stop("log file", self.log_file.close)

    def start_site_tls(self) -> None:
        """The site CA (made on the first start) and the LMS's and broker's certificates (edge.lms.tls.site_tls).

        A ``[site_broker.tls]`` without ``ca_file`` trusts the site CA only.
        """
        site_tls = SiteTls(self.config)
        try:
            files = site_tls.ensure()
        except SiteCaError as exc:
            raise StartupError(str(exc)) from None
        self.tls = LiveTls(site_tls, http_tls=self.config.http_tls)
        log.info("site CA %s (%s): agents pin it at enrolment ([enroll] ca_hash)", files.fingerprint, files.ca_file)
        broker = self.config.site_broker
        if broker.tls is not None and broker.tls.ca_file is None:
            tls = TlsSettings(ca_file=files.ca_file, cert_file=broker.tls.cert_file, key_file=broker.tls.key_file)
            self.config = self.config.model_copy(update={"site_broker": broker.model_copy(update={"tls": tls})})

    def start_tls_renewal(self) -> None:
        """Renewal, rotation on demand and expiry warnings (edge.lms.tls.certificate_watch), after the API: it
        gives the API its certificates and the site CA rotation."""
        assert self.tls is not None
        watch = self.tls.watch(self.config, self.events.add if self.events else None)
        if self.services is not None:
            self.services.certificates = watch
        if self.cloud is not None:
            self.cloud.report_expiring(watch.expiring)
        watch.start()
        self.lifecycle.on_stop("site TLS renewal", watch.stop)
        if self.router is not None and self.broker_credentials is not None:
            rotation = self.tls.ca_rotation(self.router, self.broker_credentials.list)
            if self.services is not None:
                self.services.ca_rotation = rotation

    def start_store(self) -> None:
        cfg = self.config
        try:
            store = Store(cfg.db_path).open()
        except StoreError as exc:
            raise StartupError(str(exc)) from None
        self.lifecycle.on_stop("store", store.close)
        try:
            store.claim({"tenant": cfg.tenant, "stage": cfg.stage, "site_id": cfg.site_id}, __version__)
        except StoreError as exc:
            raise StartupError(str(exc)) from None
        self.local_config = self.config
        if cfg.cloud is not None:  # the last cloud configuration applied, over the file (edge.lms.cloud.config_sync)
            self.config, self.applied_cloud_config = startup_config(self.config, store)
            logging.getLogger().setLevel(self.config.log_level)
        journal = CommandLog(store).start()
        self.lifecycle.on_stop("command log", journal.stop)
        self.store, self.journal = store, journal
        tokens = Tokens(store)
        try:
            tokens.bootstrap()
        except AuthError as exc:
            raise StartupError(str(exc)) from None
        self.tokens = tokens
        console = self.config.console
        self.accounts = Accounts(store, max_failures=console.lockout_failures, lock_s=console.lockout_s)
        first = self.accounts.bootstrap()
        if first is not None:  # the ask: the container's log shows it (it must be changed at first use)
            log.warning("console: first start: account %r created with the one-time password %s (also in %s, "
                        "mode 0600); it must be changed at the first sign-in", FIRST_ADMIN, first[0], first[1])

    def start_credentials(self) -> None:
        """With ``[site_broker.dynsec]``: put the LMS's own broker client in place and enable enrolment."""
        broker = self.config.site_broker
        if broker.dynsec is None:
            return
        assert self.store is not None
        if broker.username is None or broker.password is None:
            raise StartupError("site_broker.dynsec needs site_broker.username and its password")
        try:
            credentials = BrokerCredentials.connect(
                broker.dynsec_admin(), lms_username=broker.username,
                lms_password=broker.password.get_secret_value(), timeout_s=broker.dynsec.timeout_s,
            )
        except CredentialsError as exc:
            raise StartupError(f"dynamic security: {exc.message}") from None
        self.lifecycle.on_stop("broker credentials", credentials.stop)
        self.broker_credentials = credentials
        if self.tls is not None:
            self.tls.trust_hooks.append(credentials.trust_ca)
        address = BrokerAddress(*broker.advertised())
        store = self.store
        self.enrolments = Enrolments(
            store, credentials, address, on_revoked=self._announce_revoked,
            is_classtop_client=lambda agent_id: is_classtop_client(store, agent_id),
        )  # fmt: skip
        log.info("enrolment on: agents get credentials for %s://%s:%d", "mqtts" if address.tls else "mqtt",
                 address.host, address.port)  # fmt: skip

    def _announce_revoked(self, agent_id: str) -> None:
        """Stand in for the Last Will a revoked agent's broker session does not leave: retained offline."""
        if self.site is not None:
            lost = Status(state=Presence.OFFLINE, timestamp=time.time(), reason="lost")
            self.site.publish(topics.agent_up(agent_id, topics.AgentUp.STATUS), lost, qos=1, retain=True)

    def start_site_broker(self) -> None:
        """The site broker's client; it connects in :meth:`connect_site_broker`, once every handler is attached."""
        settings = self.config.site_broker
        client = MqttClient(settings, name="lms-site", manual_ack=True)  # events acknowledged once stored
        self.lifecycle.on_stop("site broker client", client.stop)
        self.site = client
        if self.tls is not None and settings.tls is not None:
            self.tls.trust_hooks.append(client.trust_ca)

    def connect_site_broker(self) -> None:
        """Connect after every subscriber and listener is in place: the LMS's session on the site broker is
        persistent (``[site_broker] session_expiry_s``), so what agents sent while the LMS was down arrives right
        after the CONNACK, and a message with no handler yet would be dropped."""
        assert self.site is not None
        settings = self.config.site_broker
        try:
            self.site.start(wait_s=10.0)
        except MqttError as exc:
            if self.site.stats.refused:
                where = f"{settings.host}:{settings.port}"
                raise StartupError(f"site broker {where} refused the LMS: {exc.message}") from None
            log.warning("site broker not reachable yet (%s); retrying in the background", exc.message)

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
            known_agents=lambda: [a.agent_id for a in registry.agents()],
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

    # ------------------------------------------------------------ live configuration

    def apply_config(self, cfg: LmsConfig) -> None:
        """Put a new effective configuration in force without a restart: its cloud-settable settings
        (edge.lms.config.cloud_config) reach the running parts; the local-only ones are the file's and unchanged."""
        self.config = cfg
        logging.getLogger().setLevel(cfg.log_level)
        if self.registry is not None:
            self.registry.presence_timeout_s = cfg.presence_timeout_s
        if self.router is not None:
            self.router.default_timeout_s = cfg.command_timeout_s
            self.router.exec_policy = cfg.exec_policy
        if self.history is not None:
            self.history.retention_s = cfg.metrics_retention_days * 86400.0
            self.history.prune_interval_s = cfg.metrics_prune_interval_s
        if self.admissions is not None:
            self.admissions.settings = cfg.classtop
        if self.legacy is not None:
            self.legacy.apply_settings(cfg.classtop)
        if self.services is not None:
            self.services.config = cfg
            self.services.commands.default_ttl_s = cfg.queue_default_ttl_s
        if self.cloud is not None:
            self.cloud.reconfigure(cfg)

    # ------------------------------------------------------------ running and stopping

    def stop(self) -> None:
        self.lifecycle.stop()

    def run(self) -> None:
        """Start, serve until the stop event, stop. Raises :class:`StartupError`."""
        try:
            self.start()
            log.info("LMS %s of site %s (%s) is running", __version__, self.config.site_id, self.config.namespace)
            c_heap.trim()  # what start-up freed
            while not self.stop_event.wait(TRIM_EVERY_S):
                c_heap.trim()
            log.info("stopping")
        finally:
            self.stop()
        log.info("stopped")
