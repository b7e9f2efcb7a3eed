"""The container's services of the dashboard's people: alerts (rules, evaluation, notifications), the overview and
its objects in S3, sign-in and the user pool's accounts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.parts.fleet_services import FleetServices
from chalicelib.parts.lazy_part import LazyPart

if TYPE_CHECKING:
    from chalicelib.services.alert_evaluation import AlertEvaluator
    from chalicelib.services.alert_notifications import Notifier
    from chalicelib.services.alert_rules import AlertRuleService
    from chalicelib.services.alerts import AlertService
    from chalicelib.services.overview import OverviewService
    from chalicelib.services.overview_feed import OverviewFeed
    from chalicelib.services.sign_in import SignInService
    from chalicelib.services.users import UserService


class DashboardServices(FleetServices):
    """The dashboard's services, each built on first use."""

    @LazyPart
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

    @LazyPart
    def alerts(self) -> AlertService:
        from chalicelib.services.alerts import AlertService

        return AlertService(self.alert_records, self.alert_settings, self.site_records, self.notifier, self.clock,
                            orders=self.site_orders)

    @LazyPart
    def alert_rules(self) -> AlertRuleService:
        from chalicelib.services.alert_rules import AlertRuleService

        return AlertRuleService(self.alert_settings, self.site_records, self.agent_records, self.shadows,
                                self.settings.namespace, self.clock)

    @LazyPart
    def alert_evaluator(self) -> AlertEvaluator:
        from chalicelib.services.alert_evaluation import AlertEvaluator

        return AlertEvaluator(self.site_records, self.alert_records, self.alerts, self.alert_rules,
                              self.settings.site_stale_s, self.clock, self.alert_settings)

    @LazyPart
    def overview(self) -> OverviewService:
        from chalicelib.repositories.event import EventRepository
        from chalicelib.services.overview import OverviewService

        return OverviewService(self.stats, self.site_summaries, EventRepository(), self.clock)

    @LazyPart
    def overview_feed(self) -> OverviewFeed:
        """The overview's objects in S3 and their presigned URLs (no overview bucket: the link answers 503, the
        minute's pass skips them)."""
        from chalicelib.adapters.overview_objects import S3OverviewObjects
        from chalicelib.repositories.overview_scope import OverviewScopeRepository
        from chalicelib.services.overview_feed import OverviewFeed

        settings = self.settings
        objects = S3OverviewObjects(settings.overview_bucket, endpoint_url=settings.aws_endpoint,
                                    region=settings.region) if settings.overview_bucket else None
        return OverviewFeed(self.overview, OverviewScopeRepository(), objects, self.clock)

    @LazyPart
    def sign_in(self) -> SignInService | None:
        pool = self.user_pool
        if pool is None:
            return None
        from chalicelib.services.sign_in import SignInService

        return SignInService(pool)

    @LazyPart
    def users(self) -> UserService | None:
        pool = self.user_pool
        if pool is None:
            return None
        from chalicelib.services.users import UserService

        return UserService(pool, reveal_passwords=self.settings.reveal_temporary_passwords)
