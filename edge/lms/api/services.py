"""What the routers depend on: the injected services (no globals), built by the LMS and handed to
:func:`~edge.lms.api.create_app`."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Annotated, Protocol

from fastapi import Depends, Request

from edge.lms.agents import Groups, MetricsHistory, Registry
from edge.lms.agents.retirement import AgentRetirement
from edge.lms.alerts import Alerting
from edge.lms.auth import Accounts, Audit, Sessions, Tokens
from edge.lms.cctv import CctvLog
from edge.lms.cloud import DeadLetter
from edge.lms.commands import CommandLog, CommandQueue, CommandService, Router
from edge.lms.config import LmsConfig
from edge.lms.enrolment.credential_rotation import CredentialRotation
from edge.lms.legacy import Admissions, LegacyHub, RateLimiter, Timetables
from edge.lms.live import ChangeFeed
from edge.lms.store import Store
from edge.lms.tls import CertificateExpiry, TlsFiles
from edge.lms.tls.ca_rotation import CaRotation
from shared.mqtt import MqttClient


class CloudStatus(Protocol):
    """What the API shows and does of the cloud side: the link, its outbox and the outbox's dead-letter."""

    @property
    def connected(self) -> bool: ...

    def outbox_pending(self) -> int: ...

    def config_version(self) -> str:
        """``cloud:<n>`` while the cloud's configuration (``lms:config`` version n) is in force, else ``local:…``
        (``""``: the configuration is not synchronised with the cloud)."""
        ...

    def outbox_dead(self) -> int:
        """Rows the cloud refused permanently, waiting in the dead-letter for the site admin."""
        ...

    def dead_letters(self, limit: int) -> list[DeadLetter]: ...

    def dead_letter(self, dead_id: int) -> DeadLetter | None: ...

    def retry_dead(self, dead_id: int) -> int | None:
        """Move a dead row back to the outbox (the pump looks again at once); its new outbox id."""
        ...

    def discard_dead(self, dead_id: int) -> bool: ...


class CertificateControl(Protocol):
    """The site's certificates as the API sees them (:class:`edge.lms.tls.CertificateWatch`)."""

    def status(self) -> list[CertificateExpiry]: ...

    def rotate(self) -> TlsFiles: ...


@dataclass
class Services:
    """Everything the API needs, built by the LMS (:mod:`edge.lms.process`) and handed to :func:`create_app`.

    The services after ``started_at`` are built from the ones before when not given (query-only: a queue
    built here is not attached to presence changes, a history built here stores nothing by itself).
    """

    config: LmsConfig
    store: Store
    registry: Registry
    router: Router
    site_mqtt: MqttClient
    cloud: CloudStatus | None
    version: str
    started_at: float = field(default_factory=time.time)
    tokens: Tokens = None  # type: ignore[assignment]
    accounts: Accounts = None  # type: ignore[assignment]
    sessions: Sessions = None  # type: ignore[assignment]
    sign_in_rate: RateLimiter = None  # type: ignore[assignment]  # sign-in attempts per source address
    #: what changes, for open console pages (built here when not given: then nothing feeds it)
    changes: ChangeFeed = None  # type: ignore[assignment]
    audit: Audit = None  # type: ignore[assignment]
    groups: Groups = None  # type: ignore[assignment]
    history: MetricsHistory = None  # type: ignore[assignment]
    queue: CommandQueue = None  # type: ignore[assignment]
    commands: CommandService = None  # type: ignore[assignment]
    journal: CommandLog = None  # type: ignore[assignment]
    timetables: Timetables = None  # type: ignore[assignment]
    legacy: LegacyHub | None = None  # the /ws/{uuid} hub of ClassTop clients (None: the endpoint refuses)
    admissions: Admissions = None  # type: ignore[assignment]
    sync_rate: RateLimiter = None  # type: ignore[assignment]  # ClassTop sync requests per source address
    certificates: CertificateControl | None = None  # the site's certificates (None: not watched, e.g. plain HTTP)
    credential_rotation: CredentialRotation | None = None  # agents' broker passwords (None: no dynamic security)
    ca_rotation: CaRotation | None = None  # the site CA's rotation steps (None: no dynamic security)
    #: built here when not given, without enrolment (nothing to revoke)
    retirement: AgentRetirement = None  # type: ignore[assignment]
    #: the site's alerting (None: ``[alerts] enabled = false``; built here, not started, when not given)
    alerting: Alerting | None = None

    def __post_init__(self) -> None:
        self.journal = self.journal or CommandLog(self.store)
        if self.admissions is None:
            hub = self.legacy
            self.admissions = hub.admissions if hub is not None else Admissions(
                self.store, self.registry, self.config.classtop
            ).load()
        self.sync_rate = self.sync_rate or RateLimiter(self.config.classtop.requests_per_minute)
        self.tokens = self.tokens or Tokens(self.store)
        self.changes = self.changes or ChangeFeed()
        console = self.config.console
        self.accounts = self.accounts or Accounts(
            self.store, max_failures=console.lockout_failures, lock_s=console.lockout_s
        )
        self.sessions = self.sessions or Sessions(
            self.store, idle_s=console.session_idle_s, max_age_s=console.session_max_age_s
        )
        self.sign_in_rate = self.sign_in_rate or RateLimiter(console.sign_ins_per_minute)
        self.timetables = self.timetables or Timetables(self.store)
        self.audit = self.audit or Audit(self.store)
        self.groups = self.groups or Groups(self.store, self.registry)
        self.history = self.history or MetricsHistory(
            self.store,
            retention_days=self.config.metrics_retention_days,
            prune_interval_s=self.config.metrics_prune_interval_s,
        )
        self.queue = self.queue or CommandQueue(self.store, self.router, self.registry)
        self.commands = self.commands or CommandService(
            self.router,
            self.registry,
            self.audit,
            self.groups,
            self.queue,
            CctvLog(self.store),
            default_ttl_s=self.config.queue_default_ttl_s,
        )
        if self.alerting is None and self.config.alerts.enabled:
            registry = self.registry
            self.alerting = Alerting(
                self.store, self.config.alerts, namespace=self.config.namespace, site_id=self.config.site_id,
                known_agents=registry.agent_ids, webhook_secret=None,
            )  # fmt: skip
        self.retirement = self.retirement or AgentRetirement(
            self.store, self.registry, enrolments=None, queue=self.queue, site=self.site_mqtt
        )


async def get_services(request: Request) -> Services:
    """The app's services (``async``: a plain ``def`` dependency would cost a thread-pool hop per request)."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
"""Route parameter type that injects the :class:`Services`."""
