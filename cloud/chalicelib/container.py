"""Builds the services once, lazily, from the environment — or from what :func:`configure` injected.

Production code asks :func:`get`; the local twin and the tests call :func:`configure` first (for example with
a publisher that also delivers to the twin's broker) and :func:`reset` between tests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from chalicelib import models, observability
from chalicelib.adapters.alert_topic import AlertTopic, SnsAlertTopic
from chalicelib.adapters.iot import IotDataPublisher, Publisher
from chalicelib.adapters.media import MediaStore, S3Media
from chalicelib.adapters.registry import IdentityIssuer, IotRegistry
from chalicelib.adapters.shadows import IotShadowStore, ShadowStore
from chalicelib.adapters.user_pool import UserPool
from chalicelib.adapters.webhooks import WebhookSender
from chalicelib.config import Settings
from chalicelib.domain.command import CommandRecord
from chalicelib.observability import MeteredPublisher
from chalicelib.repositories import AgentRepository, CommandRepository, SiteRepository, TokenRepository
from chalicelib.repositories.agent_snapshot import AgentSnapshotRepository
from chalicelib.repositories.alert import AlertRepository
from chalicelib.repositories.alert_setting import AlertSettingRepository
from chalicelib.repositories.audit import AuditRepository
from chalicelib.repositories.classtop_client import ClassTopClientRepository
from chalicelib.repositories.event import EventRepository
from chalicelib.repositories.log_request import LogRequestRepository
from chalicelib.repositories.metric_rollup import MetricRollupRepository
from chalicelib.repositories.rate_limit import RateLimitRepository
from chalicelib.repositories.rollup import RollupRepository
from chalicelib.repositories.site_order import SiteOrderRepository
from chalicelib.repositories.snapshot import SnapshotRepository
from chalicelib.repositories.upgrade_campaign import UpgradeCampaignRepository
from chalicelib.services import AgentService, CommandService, SiteService, TokenService
from chalicelib.services.agent_settings import AgentSettingsService
from chalicelib.services.agent_snapshots import AgentSnapshotService
from chalicelib.services.alert_evaluation import AlertEvaluator
from chalicelib.services.alert_notifications import Notifier
from chalicelib.services.alert_rules import AlertRuleService
from chalicelib.services.alerts import AlertService
from chalicelib.services.audit import AuditService
from chalicelib.services.camera_delivery import CameraDelivery
from chalicelib.services.cctv import CctvService
from chalicelib.services.cctv_snapshots import CctvSnapshotService
from chalicelib.services.classtop_clients import ClassTopClientService
from chalicelib.services.command_expiry import CommandSweeper
from chalicelib.services.command_history import CommandHistory
from chalicelib.services.lms import LmsService
from chalicelib.services.lms_config import LmsConfigService
from chalicelib.services.log_requests import LogRequestService
from chalicelib.services.metric_rollups import MetricRollupService
from chalicelib.services.overview import OverviewService
from chalicelib.services.pool_tokens import PoolTokenVerifier
from chalicelib.services.rate_limits import RateLimiter
from chalicelib.services.retirement import RetirementService
from chalicelib.services.sign_in import PoolPrincipals, SignInService
from chalicelib.services.site_link import SiteLinkService
from chalicelib.services.site_orders import SiteOrders
from chalicelib.services.site_presence import SitePresence
from chalicelib.services.stats import StatsService
from chalicelib.services.upgrade_campaigns import UpgradeCampaignService
from chalicelib.services.users import UserService
from chalicelib.services.versions import VersionService

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Container:
    settings: Settings
    publisher: Publisher
    commands: CommandService
    agents: AgentService
    sites: SiteService
    tokens: TokenService
    classtop_clients: ClassTopClientService
    audit: AuditService
    lms: LmsService
    sweeper: CommandSweeper
    history: CommandHistory
    cctv: CctvService
    stats: StatsService
    snapshots: AgentSnapshotService
    metric_rollups: MetricRollupService
    cctv_snapshots: CctvSnapshotService
    shadows: ShadowStore
    agent_settings: AgentSettingsService
    log_requests: LogRequestService
    lms_config: LmsConfigService
    versions: VersionService
    retirement: RetirementService
    site_orders: SiteOrders
    upgrades: UpgradeCampaignService
    presence: SitePresence
    site_link: SiteLinkService
    alerts: AlertService
    alert_rules: AlertRuleService
    alert_evaluator: AlertEvaluator
    notifier: Notifier
    overview: OverviewService
    #: the dashboard's accounts (``None``: the stage has no user pool; the routes answer 503)
    sign_in: SignInService | None = None
    users: UserService | None = None
    #: the services' clock (the ETag's time window of a route whose answer ages: ``api/etags.py``)
    clock: Clock = time.time


@dataclass(slots=True)
class _Overrides:
    settings: Settings | None = None
    publisher: Publisher | None = None
    clock: Clock | None = None
    issuer: IdentityIssuer | None = None
    media: MediaStore | None = None
    shadows: ShadowStore | None = None
    alert_topic: AlertTopic | None = None
    webhooks: WebhookSender | None = None
    user_pool: UserPool | None = None


_lock = threading.Lock()
_overrides = _Overrides()
_container: Container | None = None


def configure(
    *,
    settings: Settings | None = None,
    publisher: Publisher | None = None,
    clock: Clock | None = None,
    issuer: IdentityIssuer | None = None,
    media: MediaStore | None = None,
    shadows: ShadowStore | None = None,
    alert_topic: AlertTopic | None = None,
    webhooks: WebhookSender | None = None,
    user_pool: UserPool | None = None,
) -> None:
    """Inject adapters (and optionally settings or a clock) for the next :func:`get`. Arguments left as
    ``None`` keep their previous override; the container is rebuilt on next use."""
    global _container
    given = {"settings": settings, "publisher": publisher, "clock": clock, "issuer": issuer, "media": media,
             "shadows": shadows, "alert_topic": alert_topic, "webhooks": webhooks, "user_pool": user_pool}
    with _lock:
        for name, value in given.items():
            if value is not None:
                setattr(_overrides, name, value)
        _container = None


def reset() -> None:
    """Forget the built container and every override (tests)."""
    global _container, _overrides
    with _lock:
        _container = None
        _overrides = _Overrides()


def get() -> Container:
    global _container
    container = _container
    if container is not None:
        return container
    with _lock:
        if _container is None:
            _container = _build(_overrides)
        return _container


def _finished(stats: StatsService) -> Callable[[CommandRecord], None]:
    """What a command that has just finished updates: the statistics and the metrics."""

    def finished(record: CommandRecord) -> None:
        stats.command_finished(record)
        observability.command_finished(record)

    return finished


def _build(overrides: _Overrides) -> Container:
    settings = overrides.settings or Settings.from_env()
    clock = overrides.clock or time.time
    models.bind(settings)
    publisher = overrides.publisher or IotDataPublisher(endpoint_url=settings.iot_data_url, region=settings.region)
    shadows = overrides.shadows or IotShadowStore(endpoint_url=settings.iot_data_url, region=settings.region)
    issuer = overrides.issuer or IotRegistry(endpoint_url=settings.aws_endpoint, region=settings.region)
    agents = AgentRepository(settings.tenant)
    sites = SiteRepository(settings.tenant)
    tokens = TokenRepository()
    pool: UserPool | None = None
    principals: PoolPrincipals | None = None
    if settings.user_pool_id and settings.user_pool_client_id and settings.jwks_url:
        pool = overrides.user_pool or UserPool(settings.user_pool_id, settings.user_pool_client_id,
                                               endpoint_url=settings.aws_endpoint, region=settings.region)
        principals = PoolPrincipals(PoolTokenVerifier(settings.user_pool_id, settings.user_pool_client_id,
                                                      settings.jwks_url, clock=clock), pool)
    command_records = CommandRepository(settings.tenant)
    classtop_clients = ClassTopClientRepository(settings.tenant)
    stats = StatsService(RollupRepository(), sites, agents, classtop_clients, clock)
    agent_service = AgentService(agents, sites, settings, clock)
    media = overrides.media or (
        S3Media(settings.media_bucket, endpoint_url=settings.aws_endpoint, region=settings.region)
        if settings.media_bucket else None
    )
    commands = CommandService(command_records, agents, agent_service, MeteredPublisher(publisher), settings, clock,
                              on_finished=_finished(stats))
    audit = AuditService(AuditRepository(), settings.audit_retention_s, clock)
    site_orders = SiteOrders(SiteOrderRepository(), MeteredPublisher(publisher), settings.namespace,
                             settings.command_retention_s, clock, resend_after_s=settings.order_resend_s)
    alert_settings = AlertSettingRepository()
    alert_records = AlertRepository(settings.tenant, settings.alert_retention_s)
    topic = overrides.alert_topic or SnsAlertTopic(settings.alerts_topic_arn, endpoint_url=settings.aws_endpoint,
                                                   region=settings.region)
    notifier = Notifier(alert_settings, topic, overrides.webhooks or WebhookSender(), settings.tenant, clock)
    alerts = AlertService(alert_records, alert_settings, sites, notifier, clock, orders=site_orders)
    alert_rules = AlertRuleService(alert_settings, sites, agents, shadows, settings.namespace, clock)
    return Container(
        settings=settings,
        publisher=publisher,
        commands=commands,
        agents=agent_service,
        sites=SiteService(sites),
        tokens=TokenService(tokens, clock, pool=principals),
        lms=LmsService(sites, tokens, issuer, agent_service, settings, clock),
        sweeper=CommandSweeper(command_records, clock, on_finished=_finished(stats)),
        history=CommandHistory(command_records, agent_service),
        cctv=CctvService(SnapshotRepository(), EventRepository(), agent_service, agents, clock,
                         delivery=CameraDelivery(shadows, settings.namespace)),
        classtop_clients=ClassTopClientService(classtop_clients, settings, RateLimiter(RateLimitRepository(), clock),
                                               audit, clock),
        audit=audit,
        stats=stats,
        snapshots=AgentSnapshotService(AgentSnapshotRepository(), agents, agent_service, clock),
        metric_rollups=MetricRollupService(MetricRollupRepository(), agents),
        cctv_snapshots=CctvSnapshotService(media, agent_service, commands, clock),
        shadows=shadows,
        agent_settings=AgentSettingsService(agent_service, shadows, settings.namespace),
        log_requests=LogRequestService(media, agent_service, SiteService(sites), commands, command_records,
                                       LogRequestRepository(), publisher, settings, clock),
        lms_config=LmsConfigService(sites, shadows, settings.namespace),
        versions=VersionService(sites, agents),
        retirement=RetirementService(agents, agent_service, sites, tokens, issuer, shadows, site_orders, settings,
                                     clock),
        site_orders=site_orders,
        upgrades=UpgradeCampaignService(UpgradeCampaignRepository(), sites, agents, site_orders, media, clock),
        presence=SitePresence(sites, settings.site_stale_s, clock),
        site_link=SiteLinkService(sites, settings.namespace),
        alerts=alerts,
        alert_rules=alert_rules,
        alert_evaluator=AlertEvaluator(sites, alert_records, alerts, alert_rules, settings.site_stale_s, clock,
                                       alert_settings),
        notifier=notifier,
        overview=OverviewService(stats, EventRepository(), clock),
        sign_in=None if pool is None else SignInService(pool),
        users=None if pool is None else UserService(pool, reveal_passwords=settings.reveal_temporary_passwords),
        clock=clock,
    )
