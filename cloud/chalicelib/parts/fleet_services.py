"""The container's fleet services: sites, agents, commands, the ClassTop clients, the LMS and its settings, versions,
upgrades and retirement, tokens and the audit log, and the overview summary the intake writes."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from chalicelib.parts.lazy_part import LazyPart
from chalicelib.parts.repositories import RepositoryParts

if TYPE_CHECKING:
    from chalicelib.domain.command import CommandRecord
    from chalicelib.services.agents import AgentService
    from chalicelib.services.audit import AuditService
    from chalicelib.services.classtop_clients import ClassTopClientService
    from chalicelib.services.command_expiry import CommandSweeper
    from chalicelib.services.command_history import CommandHistory
    from chalicelib.services.commands import CommandService
    from chalicelib.services.lms import LmsService
    from chalicelib.services.lms_config import LmsConfigService
    from chalicelib.services.retirement import RetirementService
    from chalicelib.services.site_link import SiteLinkService
    from chalicelib.services.site_orders import SiteOrders
    from chalicelib.services.site_presence import SitePresence
    from chalicelib.services.site_summaries import SiteSummaries
    from chalicelib.services.sites import SiteService
    from chalicelib.services.stats import StatsService
    from chalicelib.services.tokens import TokenService
    from chalicelib.services.upgrade_campaigns import UpgradeCampaignService
    from chalicelib.services.versions import VersionService


def _finished(container: FleetServices) -> Callable[[CommandRecord], None]:
    """What a command that has just finished updates: the statistics and the metrics."""

    def finished(record: CommandRecord) -> None:
        from chalicelib import observability

        container.stats.command_finished(record)
        observability.command_finished(record)

    return finished


class FleetServices(RepositoryParts):
    """The fleet's services, each built on first use."""

    @LazyPart
    def stats(self) -> StatsService:
        from chalicelib.repositories.rollup import RollupRepository
        from chalicelib.services.stats import StatsService

        return StatsService(RollupRepository(), self.site_records, self.agent_records, self.classtop_client_records,
                            self.clock)

    @LazyPart
    def agents(self) -> AgentService:
        from chalicelib.services.agents import AgentService

        return AgentService(self.agent_records, self.site_records, self.settings, self.clock,
                            on_site_written=self.site_summaries.site_written)

    @LazyPart
    def commands(self) -> CommandService:
        from chalicelib.services.commands import CommandService

        return CommandService(self.command_records, self.agent_records, self.agents, self.metered_publisher,
                              self.settings, self.clock, on_finished=_finished(self))

    @LazyPart
    def sites(self) -> SiteService:
        from chalicelib.services.sites import SiteService

        return SiteService(self.site_records)

    @LazyPart
    def tokens(self) -> TokenService:
        from chalicelib.services.tokens import TokenService

        return TokenService(self.token_records, self.clock, pool=self.principals)

    @LazyPart
    def audit(self) -> AuditService:
        from chalicelib.repositories.audit import AuditRepository
        from chalicelib.services.audit import AuditService

        return AuditService(AuditRepository(), self.settings.audit_retention_s, self.clock)

    @LazyPart
    def site_orders(self) -> SiteOrders:
        from chalicelib.repositories.site_order import SiteOrderRepository
        from chalicelib.services.site_orders import SiteOrders

        return SiteOrders(SiteOrderRepository(), self.metered_publisher, self.settings.namespace,
                          self.settings.command_retention_s, self.clock, resend_after_s=self.settings.order_resend_s,
                          sites=self.site_records)

    @LazyPart
    def lms(self) -> LmsService:
        from chalicelib.services.lms import LmsService

        return LmsService(self.site_records, self.token_records, self.issuer, self.agents, self.settings, self.clock)

    @LazyPart
    def sweeper(self) -> CommandSweeper:
        from chalicelib.services.command_expiry import CommandSweeper

        return CommandSweeper(self.command_records, self.clock, on_finished=_finished(self))

    @LazyPart
    def history(self) -> CommandHistory:
        from chalicelib.services.command_history import CommandHistory

        return CommandHistory(self.command_records, self.agents)

    @LazyPart
    def classtop_clients(self) -> ClassTopClientService:
        from chalicelib.repositories.rate_limit import RateLimitRepository
        from chalicelib.services.classtop_clients import ClassTopClientService
        from chalicelib.services.rate_limits import RateLimiter

        return ClassTopClientService(self.classtop_client_records, self.settings,
                                     RateLimiter(RateLimitRepository(), self.clock), self.audit, self.clock)

    @LazyPart
    def lms_config(self) -> LmsConfigService:
        from chalicelib.services.lms_config import LmsConfigService

        return LmsConfigService(self.site_records, self.shadows, self.settings.namespace,
                                self.settings.site_stale_s)

    @LazyPart
    def versions(self) -> VersionService:
        from chalicelib.services.versions import VersionService

        return VersionService(self.site_records, self.agent_records)

    @LazyPart
    def retirement(self) -> RetirementService:
        from chalicelib.services.retirement import RetirementService

        return RetirementService(self.agent_records, self.agents, self.site_records, self.token_records, self.issuer,
                                 self.shadows, self.site_orders, self.settings, self.clock)

    @LazyPart
    def upgrades(self) -> UpgradeCampaignService:
        from chalicelib.repositories.upgrade_campaign import UpgradeCampaignRepository
        from chalicelib.services.upgrade_campaigns import UpgradeCampaignService

        return UpgradeCampaignService(UpgradeCampaignRepository(), self.site_records, self.agent_records,
                                      self.site_orders, self.media, self.clock)

    @LazyPart
    def presence(self) -> SitePresence:
        from chalicelib.services.site_presence import SitePresence

        return SitePresence(self.site_records, self.settings.site_stale_s, self.clock)

    @LazyPart
    def site_link(self) -> SiteLinkService:
        from chalicelib.services.site_link import SiteLinkService

        return SiteLinkService(self.site_records, self.settings.namespace,
                               on_site_written=self.site_summaries.site_written)

    @LazyPart
    def site_summaries(self) -> SiteSummaries:
        """The overview summary: written by the heartbeat intake and the minute's pass, read by the overview."""
        from chalicelib.repositories.site_summary import SiteSummaryRepository
        from chalicelib.services.site_summaries import SiteSummaries

        return SiteSummaries(SiteSummaryRepository(), self.site_records, lambda: self.classtop_client_records,
                             self.clock)
