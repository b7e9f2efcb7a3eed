"""The container's services of what the agents hold and report: camera events and snapshots, metric rollups and
history, device snapshots, settings (their device shadows) and logs on request."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.parts.fleet_services import FleetServices
from chalicelib.parts.lazy_part import LazyPart

if TYPE_CHECKING:
    from chalicelib.services.agent_settings import AgentSettingsService
    from chalicelib.services.agent_snapshots import AgentSnapshotService
    from chalicelib.services.cctv import CctvService
    from chalicelib.services.cctv_snapshots import CctvSnapshotService
    from chalicelib.services.log_requests import LogRequestService
    from chalicelib.services.metric_history import MetricHistoryService
    from chalicelib.services.metric_rollups import MetricRollupService


class AgentDataServices(FleetServices):
    """The services of the agents' data, each built on first use."""

    @LazyPart
    def cctv(self) -> CctvService:
        from chalicelib.repositories.event import EventRepository
        from chalicelib.repositories.snapshot import SnapshotRepository
        from chalicelib.services.camera_delivery import CameraDelivery
        from chalicelib.services.cctv import CctvService

        return CctvService(SnapshotRepository(), EventRepository(), self.agents, self.agent_records, self.clock,
                           delivery=CameraDelivery(self.shadows, self.settings.namespace))

    @LazyPart
    def snapshots(self) -> AgentSnapshotService:
        from chalicelib.repositories.agent_snapshot import AgentSnapshotRepository
        from chalicelib.services.agent_snapshots import AgentSnapshotService

        return AgentSnapshotService(AgentSnapshotRepository(), self.agent_records, self.agents, self.clock)

    @LazyPart
    def metric_rollups(self) -> MetricRollupService:
        from chalicelib.repositories.metric_rollup import MetricRollupRepository
        from chalicelib.services.metric_rollups import MetricRollupService

        return MetricRollupService(MetricRollupRepository(), self.agent_records)

    @LazyPart
    def metric_history(self) -> MetricHistoryService:
        from chalicelib.repositories.metric_rollup import MetricRollupRepository
        from chalicelib.services.metric_history import MetricHistoryService

        return MetricHistoryService(MetricRollupRepository(), self.agents, self.clock)

    @LazyPart
    def cctv_snapshots(self) -> CctvSnapshotService:
        from chalicelib.services.cctv_snapshots import CctvSnapshotService

        return CctvSnapshotService(self.media, self.agents, self.commands, self.clock)

    @LazyPart
    def agent_settings(self) -> AgentSettingsService:
        from chalicelib.services.agent_settings import AgentSettingsService

        return AgentSettingsService(self.agents, self.shadows, self.settings.namespace)

    @LazyPart
    def log_requests(self) -> LogRequestService:
        from chalicelib.repositories.log_request import LogRequestRepository
        from chalicelib.services.log_requests import LogRequestService

        return LogRequestService(self.media, self.agents, self.sites, self.commands, self.command_records,
                                 LogRequestRepository(), self.publisher, self.settings, self.clock)
