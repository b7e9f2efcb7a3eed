"""The container's repositories (the services share them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.parts.adapters import AdapterParts
from chalicelib.parts.lazy_part import LazyPart

if TYPE_CHECKING:
    from chalicelib.repositories.agent import AgentRepository
    from chalicelib.repositories.alert import AlertRepository
    from chalicelib.repositories.alert_setting import AlertSettingRepository
    from chalicelib.repositories.classtop_client import ClassTopClientRepository
    from chalicelib.repositories.command import CommandRepository
    from chalicelib.repositories.site import SiteRepository
    from chalicelib.repositories.token import TokenRepository


class RepositoryParts(AdapterParts):
    """The repositories the services share, each built on first use."""

    @LazyPart
    def agent_records(self) -> AgentRepository:
        from chalicelib.repositories.agent import AgentRepository

        return AgentRepository(self.settings.tenant)

    @LazyPart
    def site_records(self) -> SiteRepository:
        from chalicelib.repositories.site import SiteRepository

        return SiteRepository(self.settings.tenant)

    @LazyPart
    def token_records(self) -> TokenRepository:
        from chalicelib.repositories.token import TokenRepository

        return TokenRepository()

    @LazyPart
    def command_records(self) -> CommandRepository:
        from chalicelib.repositories.command import CommandRepository

        return CommandRepository(self.settings.tenant)

    @LazyPart
    def classtop_client_records(self) -> ClassTopClientRepository:
        from chalicelib.repositories.classtop_client import ClassTopClientRepository

        return ClassTopClientRepository(self.settings.tenant)

    @LazyPart
    def alert_settings(self) -> AlertSettingRepository:
        from chalicelib.repositories.alert_setting import AlertSettingRepository

        return AlertSettingRepository()

    @LazyPart
    def alert_records(self) -> AlertRepository:
        from chalicelib.repositories.alert import AlertRepository

        return AlertRepository(self.settings.tenant, self.settings.alert_retention_s)
