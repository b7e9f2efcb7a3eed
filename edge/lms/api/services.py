"""What the routers depend on: the injected services (no globals) and local authentication.

Every router but ``/api/health`` depends on one of :func:`require_viewer` (reads), :func:`require_operator`
(commands, settings, tags, groups, batches) or :func:`require_admin` (``exec``, tokens, audit log). They read
``Authorization: Bearer <token>``: 401 ``unauthorized`` without a valid token, 403 ``forbidden`` when its
role is too low. The caller is left on ``request.state.principal`` for the audit log.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass, field
from typing import Annotated, Protocol

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from edge.lms.agents import Groups, MetricsHistory, Registry
from edge.lms.auth import Audit, Principal, Role, Tokens
from edge.lms.commands import CommandLog, CommandQueue, Commands, Router
from edge.lms.config import LmsConfig
from edge.lms.legacy.admission import Admissions
from edge.lms.legacy.hub import LegacyHub
from edge.lms.legacy.ratelimit import RateLimiter
from edge.lms.legacy.timetable import Timetables
from edge.lms.store import Store
from shared.mqtt import MqttClient


class CloudStatus(Protocol):
    """What the API shows about the cloud side (the link and its outbox)."""

    @property
    def connected(self) -> bool: ...

    def outbox_pending(self) -> int: ...

    def outbox_dead(self) -> int:
        """Rows the cloud refused permanently, waiting in the dead-letter for the site admin."""
        ...

    def outbox_wake(self) -> None:
        """Make the outbox pump look again now (a dead row was moved back)."""
        ...


@dataclass
class Services:
    """Everything the API needs, built by ``edge.lms.__main__`` and handed to :func:`create_app`.

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
    audit: Audit = None  # type: ignore[assignment]
    groups: Groups = None  # type: ignore[assignment]
    history: MetricsHistory = None  # type: ignore[assignment]
    queue: CommandQueue = None  # type: ignore[assignment]
    commands: Commands = None  # type: ignore[assignment]
    journal: CommandLog = None  # type: ignore[assignment]
    timetables: Timetables = None  # type: ignore[assignment]
    legacy: LegacyHub | None = None  # the /ws/{uuid} hub of ClassTop clients (None: the endpoint refuses)
    admissions: Admissions = None  # type: ignore[assignment]
    sync_rate: RateLimiter = None  # type: ignore[assignment]  # ClassTop sync requests per source address

    def __post_init__(self) -> None:
        self.journal = self.journal or CommandLog(self.store)
        if self.admissions is None:
            hub = self.legacy
            self.admissions = hub.admissions if hub is not None else Admissions(
                self.store, self.registry, self.config.classtop
            ).load()
        self.sync_rate = self.sync_rate or RateLimiter(self.config.classtop.requests_per_minute)
        self.tokens = self.tokens or Tokens(self.store)
        self.timetables = self.timetables or Timetables(self.store)
        self.audit = self.audit or Audit(self.store)
        self.groups = self.groups or Groups(self.store, self.registry)
        self.history = self.history or MetricsHistory(
            self.store,
            retention_days=self.config.metrics_retention_days,
            prune_interval_s=self.config.metrics_prune_interval_s,
        )
        self.queue = self.queue or CommandQueue(self.store, self.router, self.registry)
        self.commands = self.commands or Commands(
            self.router,
            self.registry,
            self.audit,
            self.groups,
            self.queue,
            default_ttl_s=self.config.queue_default_ttl_s,
        )


async def get_services(request: Request) -> Services:
    """The app's services (``async``: a plain ``def`` dependency would cost a thread-pool hop per request)."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
"""Route parameter type that injects the :class:`Services`."""

_bearer = HTTPBearer(auto_error=False, description="an LMS API token (`python -m edge.lms token create`)")
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _authenticate(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    services: Services = request.app.state.services
    principal = services.tokens.verify(credentials.credentials if credentials is not None else None)
    if principal is None:
        why = "missing bearer token" if credentials is None else "invalid or revoked token"
        raise HTTPException(401, f"authentication required: {why}", headers={"WWW-Authenticate": "Bearer"})
    request.state.principal = principal
    return principal


def _require(request: Request, credentials: HTTPAuthorizationCredentials | None, role: Role) -> Principal:
    principal = _authenticate(request, credentials)
    if principal.role < role:
        raise HTTPException(
            403, f"this needs the {role.label} role; token {principal.name!r} is {principal.role.label}"
        )
    return principal


async def require_viewer(request: Request, credentials: BearerDep) -> Principal:
    return _require(request, credentials, Role.VIEWER)


async def require_operator(request: Request, credentials: BearerDep) -> Principal:
    return _require(request, credentials, Role.OPERATOR)


async def require_admin(request: Request, credentials: BearerDep) -> Principal:
    return _require(request, credentials, Role.ADMIN)


def is_loopback(request: Request) -> bool:
    host = request.client.host if request.client is not None else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def viewer_or_loopback(request: Request, credentials: BearerDep) -> Principal | None:
    """``/metrics``: open to scrapers on the LMS's own host (loopback), a viewer token from anywhere else."""
    if credentials is None and is_loopback(request):
        return None
    return _require(request, credentials, Role.VIEWER)


ViewerDep = Annotated[Principal, Depends(require_viewer)]
OperatorDep = Annotated[Principal, Depends(require_operator)]
AdminDep = Annotated[Principal, Depends(require_admin)]
