"""The LMS's site steps (:class:`SiteSteps`): its database lock and log file, the site CA and TLS (and their
renewal), the store, the broker credentials of enrolment, and the site broker's client."""

from __future__ import annotations

import logging
import time

from edge.lms import __version__
from edge.lms.auth import Accounts, AuthError, Tokens
from edge.lms.auth.accounts import FIRST_ADMIN
from edge.lms.cloud import startup_config
from edge.lms.commands import CommandLog
from edge.lms.enrolment import BrokerAddress, BrokerCredentials, CredentialsError, Enrolments
from edge.lms.legacy import is_classtop_client
from edge.lms.lms_parts import LmsParts, StartupError
from edge.lms.log_file import LmsLogFile
from edge.lms.schema import SCHEMA_VERSION
from edge.lms.store import DatabaseLock, Store, StoreError, check_schema
from edge.lms.tls import LiveTls, SiteCaError, SiteTls
from shared import topics
from shared.errors import MqttError
from shared.messages import Presence, Status
from shared.mqtt import MqttClient, TlsSettings

log = logging.getLogger("edge.lms")


class SiteSteps(LmsParts):
    """The start steps of what the site's services stand on (:meth:`edge.lms.process.Lms.start` orders them)."""

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
