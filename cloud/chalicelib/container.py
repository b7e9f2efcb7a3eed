"""Builds the services lazily, each on first use, from the environment — or from what :func:`configure` injected.

Production code asks :func:`get`; the local twin and the tests call :func:`configure` first (for example with
a publisher that also delivers to the twin's broker) and :func:`reset` between tests.

A Lambda function imports only what its own path needs (``docs/deploy.md#cold-starts``): :func:`get` reads the
settings and binds the table models, and each service (with its repositories, models and clients) is imported and
built the first time it is asked for — the ``site_heartbeat`` function never loads the alert tables or boto3's S3.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from chalicelib import models
from chalicelib.config import Settings

if TYPE_CHECKING:
    from chalicelib.adapters.alert_topic import AlertTopic
    from chalicelib.adapters.iot import Publisher
    from chalicelib.adapters.media import MediaStore
    from chalicelib.adapters.registry import IdentityIssuer
    from chalicelib.adapters.shadows import ShadowStore
    from chalicelib.adapters.user_pool import UserPool
    from chalicelib.adapters.webhooks import WebhookSender
    from chalicelib.domain.command import CommandRecord
    from chalicelib.observability import MeteredPublisher
    from chalicelib.repositories.agent import AgentRepository
    from chalicelib.repositories.alert import AlertRepository
    from chalicelib.repositories.alert_setting import AlertSettingRepository
    from chalicelib.repositories.classtop_client import ClassTopClientRepository
    from chalicelib.repositories.command import CommandRepository
    from chalicelib.repositories.site import SiteRepository
    from chalicelib.repositories.token import TokenRepository
    from chalicelib.services.agent_settings import AgentSettingsService
    from chalicelib.services.agent_snapshots import AgentSnapshotService
    from chalicelib.services.agents import AgentService
    from chalicelib.services.alert_evaluation import AlertEvaluator
    from chalicelib.services.alert_notifications import Notifier
    from chalicelib.services.alert_rules import AlertRuleService
    from chalicelib.services.alerts import AlertService
    from chalicelib.services.audit import AuditService
    from chalicelib.services.cctv import CctvService
    from chalicelib.services.cctv_snapshots import CctvSnapshotService
    from chalicelib.services.classtop_clients import ClassTopClientService
    from chalicelib.services.command_expiry import CommandSweeper
    from chalicelib.services.command_history import CommandHistory
    from chalicelib.services.commands import CommandService
    from chalicelib.services.lms import LmsService
    from chalicelib.services.lms_config import LmsConfigService
    from chalicelib.services.log_requests import LogRequestService
    from chalicelib.services.metric_history import MetricHistoryService
    from chalicelib.services.metric_rollups import MetricRollupService
    from chalicelib.services.overview import OverviewService
    from chalicelib.services.overview_feed import OverviewFeed
    from chalicelib.services.retirement import RetirementService
    from chalicelib.services.sign_in import PoolPrincipals, SignInService
    from chalicelib.services.site_link import SiteLinkService
    from chalicelib.services.site_orders import SiteOrders
    from chalicelib.services.site_presence import SitePresence
    from chalicelib.services.site_summaries import SiteSummaries
    from chalicelib.services.sites import SiteService
    from chalicelib.services.stats import StatsService
    from chalicelib.services.tokens import TokenService
    from chalicelib.services.upgrade_campaigns import UpgradeCampaignService
    from chalicelib.services.users import UserService
    from chalicelib.services.versions import VersionService

Clock = Callable[[], float]
T = TypeVar("T")


class _Lazy(Generic[T]):
    """A part of the :class:`Container` built by ``build(container)`` on first access, once (under the container's
    lock: a part's build may ask for other parts)."""

    def __init__(self, build: Callable[[Container], T]) -> None:
        self._build = build
        self._name = build.__name__

    @overload
    def __get__(self, container: None, owner: type[Container]) -> _Lazy[T]: ...
    @overload
    def __get__(self, container: Container, owner: type[Container]) -> T: ...

    def __get__(self, container: Container | None, owner: type[Container]) -> _Lazy[T] | T:
        if container is None:
            return self
        parts = container._parts
        if self._name not in parts:
            with container._lock:
                if self._name not in parts:
                    parts[self._name] = self._build(container)
        value: T = parts[self._name]
        return value


def _finished(container: Container) -> Callable[[CommandRecord], None]:
    """What a command that has just finished updates: the statistics and the metrics."""

    def finished(record: CommandRecord) -> None:
        from chalicelib import observability

        container.stats.command_finished(record)
        observability.command_finished(record)

    return finished


class Container:
    """The settings, the clock, the adapters and every service; each part is built on first use (:class:`_Lazy`)."""

    def __init__(self, settings: Settings, clock: Clock, overrides: _Overrides) -> None:
        self.settings = settings
        #: the services' clock (the ETag's time window of a route whose answer ages: ``api/etags.py``)
        self.clock = clock
        self._overrides = overrides
        self._parts: dict[str, Any] = {}
        self._lock = threading.RLock()

    # ---------------------------------------------------------------- adapters

    @_Lazy
    def publisher(self) -> Publisher:
        from chalicelib.adapters.iot import IotDataPublisher

        return self._overrides.publisher or IotDataPublisher(endpoint_url=self.settings.iot_data_url,
                                                             region=self.settings.region)

    @_Lazy
    def metered_publisher(self) -> MeteredPublisher:
        from chalicelib.observability import MeteredPublisher

        return MeteredPublisher(self.publisher)

    @_Lazy
    def shadows(self) -> ShadowStore:
        from chalicelib.adapters.shadows import IotShadowStore

        return self._overrides.shadows or IotShadowStore(endpoint_url=self.settings.iot_data_url,
                                                         region=self.settings.region)

    @_Lazy
    def issuer(self) -> IdentityIssuer:
        from chalicelib.adapters.registry import IotRegistry

        return self._overrides.issuer or IotRegistry(endpoint_url=self.settings.aws_endpoint,
                                                     region=self.settings.region)

    @_Lazy
    def media(self) -> MediaStore | None:
        if self._overrides.media is not None:
            return self._overrides.media
        if not self.settings.media_bucket:
            return None
        from chalicelib.adapters.media import S3Media

        return S3Media(self.settings.media_bucket, endpoint_url=self.settings.aws_endpoint,
                       region=self.settings.region)

    @_Lazy
    def user_pool(self) -> UserPool | None:
        """The dashboard's accounts (``None``: the stage has no user pool; the routes answer 503)."""
        settings = self.settings
        if not (settings.user_pool_id and settings.user_pool_client_id and settings.jwks_url):
            return None
        from chalicelib.adapters.user_pool import UserPool

        return self._overrides.user_pool or UserPool(settings.user_pool_id, settings.user_pool_client_id,
                                                     endpoint_url=settings.aws_endpoint, region=settings.region)

    @_Lazy
    def principals(self) -> PoolPrincipals | None:
        pool, settings = self.user_pool, self.settings
        if pool is None or not (settings.user_pool_id and settings.user_pool_client_id and settings.jwks_url):
            return None
        from chalicelib.services.pool_tokens import PoolTokenVerifier
        from chalicelib.services.sign_in import PoolPrincipals

        return PoolPrincipals(PoolTokenVerifier(settings.user_pool_id, settings.user_pool_client_id,
                                                settings.jwks_url, clock=self.clock), pool)

    # ---------------------------------------------------------------- repositories

    @_Lazy
    def agent_records(self) -> AgentRepository:
        from chalicelib.repositories.agent import AgentRepository

        return AgentRepository(self.settings.tenant)

    @_Lazy
    def site_records(self) -> SiteRepository:
        from chalicelib.repositories.site import SiteRepository

        return SiteRepository(self.settings.tenant)

    @_Lazy
    def token_records(self) -> TokenRepository:
        from chalicelib.repositories.token import TokenRepository

        return TokenRepository()

    @_Lazy
    def command_records(self) -> CommandRepository:
        from chalicelib.repositories.command import CommandRepository

        return CommandRepository(self.settings.tenant)

    @_Lazy
    def classtop_client_records(self) -> ClassTopClientRepository:
        from chalicelib.repositories.classtop_client import ClassTopClientRepository

        return ClassTopClientRepository(self.settings.tenant)

    @_Lazy
    def alert_settings(self) -> AlertSettingRepository:
        from chalicelib.repositories.alert_setting import AlertSettingRepository

        return AlertSettingRepository()

    @_Lazy
    def alert_records(self) -> AlertRepository:
        from chalicelib.repositories.alert import AlertRepository

        return AlertRepository(self.settings.tenant, self.settings.alert_retention_s)

    # ---------------------------------------------------------------- services

    @_Lazy
    def stats(self) -> StatsService:
        from chalicelib.repositories.rollup import RollupRepository
        from chalicelib.services.stats import StatsService

        return StatsService(RollupRepository(), self.site_records, self.agent_records, self.classtop_client_records,
                            self.clock)

    @_Lazy
    def agents(self) -> AgentService:
        from chalicelib.services.agents import AgentService

        return AgentService(self.agent_records, self.site_records, self.settings, self.clock,
                            on_site_written=self.site_summaries.site_written)

    @_Lazy
    def commands(self) -> CommandService:
        from chalicelib.services.commands import CommandService

        return CommandService(self.command_records, self.agent_records, self.agents, self.metered_publisher,
                              self.settings, self.clock, on_finished=_finished(self))

    @_Lazy
    def sites(self) -> SiteService:
        from chalicelib.services.sites import SiteService

        return SiteService(self.site_records)

    @_Lazy
    def tokens(self) -> TokenService:
        from chalicelib.services.tokens import TokenService

        return TokenService(self.token_records, self.clock, pool=self.principals)

    @_Lazy
    def audit(self) -> AuditService:
        from chalicelib.repositories.audit import AuditRepository
        from chalicelib.services.audit import AuditService

        return AuditService(AuditRepository(), self.settings.audit_retention_s, self.clock)

    @_Lazy
    def site_orders(self) -> SiteOrders:
        from chalicelib.repositories.site_order import SiteOrderRepository
        from chalicelib.services.site_orders import SiteOrders

        return SiteOrders(SiteOrderRepository(), self.metered_publisher, self.settings.namespace,
                          self.settings.command_retention_s, self.clock, resend_after_s=self.settings.order_resend_s,
                          sites=self.site_records)

    @_Lazy
    def notifier(self) -> Notifier:
        from chalicelib.adapters.alert_topic import SnsAlertTopic
        from chalicelib.adapters.webhooks import WebhookSender
        from chalicelib.services.alert_notifications import Notifier

        settings = self.settings
        topic = self._overrides.alert_topic or SnsAlertTopic(settings.alerts_topic_arn,
                                                             endpoint_url=settings.aws_endpoint,
                                                             region=settings.region)
        return Notifier(self.alert_settings, topic, self._overrides.webhooks or WebhookSender(), settings.tenant,
                        self.clock)

    @_Lazy
    def alerts(self) -> AlertService:
        from chalicelib.services.alerts import AlertService

        return AlertService(self.alert_records, self.alert_settings, self.site_records, self.notifier, self.clock,
                            orders=self.site_orders)

    @_Lazy
    def alert_rules(self) -> AlertRuleService:
        from chalicelib.services.alert_rules import AlertRuleService

        return AlertRuleService(self.alert_settings, self.site_records, self.agent_records, self.shadows,
                                self.settings.namespace, self.clock)

    @_Lazy
    def alert_evaluator(self) -> AlertEvaluator:
        from chalicelib.services.alert_evaluation import AlertEvaluator

        return AlertEvaluator(self.site_records, self.alert_records, self.alerts, self.alert_rules,
                              self.settings.site_stale_s, self.clock, self.alert_settings)

    @_Lazy
    def lms(self) -> LmsService:
        from chalicelib.services.lms import LmsService

        return LmsService(self.site_records, self.token_records, self.issuer, self.agents, self.settings, self.clock)

    @_Lazy
    def sweeper(self) -> CommandSweeper:
        from chalicelib.services.command_expiry import CommandSweeper

        return CommandSweeper(self.command_records, self.clock, on_finished=_finished(self))

    @_Lazy
    def history(self) -> CommandHistory:
        from chalicelib.services.command_history import CommandHistory

        return CommandHistory(self.command_records, self.agents)

    @_Lazy
    def cctv(self) -> CctvService:
        from chalicelib.repositories.event import EventRepository
        from chalicelib.repositories.snapshot import SnapshotRepository
        from chalicelib.services.camera_delivery import CameraDelivery
        from chalicelib.services.cctv import CctvService

        return CctvService(SnapshotRepository(), EventRepository(), self.agents, self.agent_records, self.clock,
                           delivery=CameraDelivery(self.shadows, self.settings.namespace))

    @_Lazy
    def classtop_clients(self) -> ClassTopClientService:
        from chalicelib.repositories.rate_limit import RateLimitRepository
        from chalicelib.services.classtop_clients import ClassTopClientService
        from chalicelib.services.rate_limits import RateLimiter

        return ClassTopClientService(self.classtop_client_records, self.settings,
                                     RateLimiter(RateLimitRepository(), self.clock), self.audit, self.clock)

    @_Lazy
    def snapshots(self) -> AgentSnapshotService:
        from chalicelib.repositories.agent_snapshot import AgentSnapshotRepository
        from chalicelib.services.agent_snapshots import AgentSnapshotService

        return AgentSnapshotService(AgentSnapshotRepository(), self.agent_records, self.agents, self.clock)

    @_Lazy
    def metric_rollups(self) -> MetricRollupService:
        from chalicelib.repositories.metric_rollup import MetricRollupRepository
        from chalicelib.services.metric_rollups import MetricRollupService

        return MetricRollupService(MetricRollupRepository(), self.agent_records)

    @_Lazy
    def metric_history(self) -> MetricHistoryService:
        from chalicelib.repositories.metric_rollup import MetricRollupRepository
        from chalicelib.services.metric_history import MetricHistoryService

        return MetricHistoryService(MetricRollupRepository(), self.agents, self.clock)

    @_Lazy
    def cctv_snapshots(self) -> CctvSnapshotService:
        from chalicelib.services.cctv_snapshots import CctvSnapshotService

        return CctvSnapshotService(self.media, self.agents, self.commands, self.clock)

    @_Lazy
    def agent_settings(self) -> AgentSettingsService:
        from chalicelib.services.agent_settings import AgentSettingsService

        return AgentSettingsService(self.agents, self.shadows, self.settings.namespace)

    @_Lazy
    def log_requests(self) -> LogRequestService:
        from chalicelib.repositories.log_request import LogRequestRepository
        from chalicelib.services.log_requests import LogRequestService

        return LogRequestService(self.media, self.agents, self.sites, self.commands, self.command_records,
                                 LogRequestRepository(), self.publisher, self.settings, self.clock)

    @_Lazy
    def lms_config(self) -> LmsConfigService:
        from chalicelib.services.lms_config import LmsConfigService

        return LmsConfigService(self.site_records, self.shadows, self.settings.namespace,
                                self.settings.site_stale_s)

    @_Lazy
    def versions(self) -> VersionService:
        from chalicelib.services.versions import VersionService

        return VersionService(self.site_records, self.agent_records)

    @_Lazy
    def retirement(self) -> RetirementService:
        from chalicelib.services.retirement import RetirementService

        return RetirementService(self.agent_records, self.agents, self.site_records, self.token_records, self.issuer,
                                 self.shadows, self.site_orders, self.settings, self.clock)

    @_Lazy
    def upgrades(self) -> UpgradeCampaignService:
        from chalicelib.repositories.upgrade_campaign import UpgradeCampaignRepository
        from chalicelib.services.upgrade_campaigns import UpgradeCampaignService

        return UpgradeCampaignService(UpgradeCampaignRepository(), self.site_records, self.agent_records,
                                      self.site_orders, self.media, self.clock)

    @_Lazy
    def presence(self) -> SitePresence:
        from chalicelib.services.site_presence import SitePresence

        return SitePresence(self.site_records, self.settings.site_stale_s, self.clock)

    @_Lazy
    def site_link(self) -> SiteLinkService:
        from chalicelib.services.site_link import SiteLinkService

        return SiteLinkService(self.site_records, self.settings.namespace,
                               on_site_written=self.site_summaries.site_written)

    @_Lazy
    def overview(self) -> OverviewService:
        from chalicelib.repositories.event import EventRepository
        from chalicelib.services.overview import OverviewService

        return OverviewService(self.stats, self.site_summaries, EventRepository(), self.clock)

    @_Lazy
    def site_summaries(self) -> SiteSummaries:
        """The overview summary: written by the heartbeat intake and the minute's pass, read by the overview."""
        from chalicelib.repositories.site_summary import SiteSummaryRepository
        from chalicelib.services.site_summaries import SiteSummaries

        return SiteSummaries(SiteSummaryRepository(), self.site_records, lambda: self.classtop_client_records,
                             self.clock)

    @_Lazy
    def overview_feed(self) -> OverviewFeed:
        """The overview's shared links (no feed secret: :class:`SigningKeyNotConfigured`, a 503, on first use)."""
        from chalicelib.adapters.signing_key import SecretsManagerKey
        from chalicelib.services.overview_feed import OverviewFeed

        key = SecretsManagerKey(self.settings.feed_secret or "", endpoint_url=self.settings.aws_endpoint,
                                region=self.settings.region)
        return OverviewFeed(key, self.settings.tenant, self.settings.stage, self.clock)

    @_Lazy
    def sign_in(self) -> SignInService | None:
        pool = self.user_pool
        if pool is None:
            return None
        from chalicelib.services.sign_in import SignInService

        return SignInService(pool)

    @_Lazy
    def users(self) -> UserService | None:
        pool = self.user_pool
        if pool is None:
            return None
        from chalicelib.services.users import UserService

        return UserService(pool, reveal_passwords=self.settings.reveal_temporary_passwords)


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


def _build(overrides: _Overrides) -> Container:
    settings = overrides.settings or Settings.from_env()
    models.bind(settings)
    return Container(settings, overrides.clock or time.time, replace(overrides))  # later configure()s: not ours
