"""The LMS's cloud side put together: what :meth:`CloudSide.start` starts when the configuration has ``[cloud]``,
and what the API sees of it (the link's state, the outbox and its dead-letter).

Start order (each part registers its undo with the process's :class:`~shared.lifecycle.Lifecycle`): the outbox
(agent events start to go through it), the fan-out of cloud commands, the outbox pump, site heartbeats, log
uploads (the LMS's own logs on request), agent
snapshots, metric rollups, settings from device shadows, and last the link itself (it subscribes to every
filter registered before it starts).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edge.lms.agents import Registry
from edge.lms.agents.retirement import AgentRetirement
from edge.lms.alerts import Alerting, CloudAcknowledgements, RulesShadowSync
from edge.lms.auth import Audit
from edge.lms.cloud.agent_retirements import CloudRetirements, RetirementReports
from edge.lms.cloud.config_sync import AppliedCloudConfig, LmsConfigSync
from edge.lms.cloud.link import CloudLink
from edge.lms.cloud.log_uploads import LogUploads
from edge.lms.cloud.outbox import Outbox
from edge.lms.cloud.outbox_rows import DeadLetter
from edge.lms.cloud.rollup_sync import MetricRollupSync
from edge.lms.cloud.shadow_sync import ShadowSync
from edge.lms.cloud.site_heartbeats import AnnouncedLink, SiteHeartbeats
from edge.lms.cloud.snapshot_sync import SnapshotSync
from edge.lms.cloud.upgrade_orders import CloudUpgrades
from edge.lms.cloud.upgrade_reports import CampaignReports
from edge.lms.commands import CommandProgress, CommandQueue, Fanout, Router
from edge.lms.config import LmsConfig
from edge.lms.store import Store
from edge.lms.upgrades.campaigns import CampaignRows
from edge.lms.upgrades.runner import Upgrades
from shared import topics
from shared.lifecycle import Lifecycle


class CloudLinkError(Exception):
    """The cloud link cannot start (awscrt refused the TLS files or options); the message says why."""


class CloudSide:
    """The API's view of the cloud side: link state, outbox depth and dead-letter."""

    def __init__(self, link: CloudLink, outbox: Outbox, beats: SiteHeartbeats | None = None,
                 config: LmsConfigSync | None = None, upgrades: CloudUpgrades | None = None) -> None:
        self._link = link
        self._outbox = outbox
        self._beats = beats
        self.config_sync = config
        self._upgrades = upgrades

    @classmethod
    def start(
        cls, cfg: LmsConfig, *, store: Store, registry: Registry, router: Router, lifecycle: Lifecycle,
        lms_version: str, on_outbox: Callable[[Outbox], None], log_files: Callable[[], list[Path]] | None = None,
        queue: CommandQueue | None = None, progress: CommandProgress | None = None,
        local_config: LmsConfig | None = None, applied: AppliedCloudConfig | None = None,
        apply_config: Callable[[LmsConfig], None] | None = None, retirement: AgentRetirement | None = None,
        alerting: Alerting | None = None,
    ) -> CloudSide:  # fmt: skip
        """Build and start every cloud part (``cfg.cloud`` is set). Raises :class:`CloudLinkError`.

        ``local_config``: the file as loaded (``cfg`` is it with ``applied``, the stored cloud configuration, laid
        over it); ``apply_config`` applies a new effective configuration live."""
        assert cfg.cloud is not None
        namespace, site_id = cfg.namespace, cfg.site_id
        outbox = Outbox(store, window=cfg.cloud.outbox_window, ack_wait_s=cfg.cloud.ack_timeout_s + 5.0)
        on_outbox(outbox)
        link = CloudLink(cfg.cloud, client_id=cfg.cloud_client_id)
        fanout = Fanout(
            router, outbox, namespace=namespace, site_id=site_id, concurrency=cfg.cloud.fanout_concurrency,
            audit=Audit(store), store=store, offline_queue=queue, registry=registry,
        )  # fmt: skip
        if progress is not None:
            progress.add_listener(fanout.on_progress)
        # The LMS's own configuration from its lms:config shadow.
        config = LmsConfigSync(
            link, outbox, store, namespace=namespace, site_id=site_id, local_config=local_config or cfg,
            effective=cfg, applied=applied, apply_config=apply_config or (lambda _cfg: None),
        )  # fmt: skip
        beats = SiteHeartbeats(link, registry, namespace=namespace, site_id=site_id, period_s=cfg.site_heartbeat_s,
                               lms_version=lms_version, config_version=config.config_version)  # fmt: skip
        link.subscribe(topics.site_down(namespace, site_id, topics.SiteDown.COMMAND), fanout.handle)
        # the LMS's own logs on request (an agent's travel as the get_logs command, through the fan-out)
        uploads = LogUploads(log_files, Audit(store))
        link.subscribe(topics.site_down(namespace, site_id, topics.SiteDown.LOGS), uploads.handle)
        if retirement is not None:  # the cloud retiring one of the site's agents; every retirement told to the cloud
            reports = RetirementReports(outbox, namespace=namespace, site_id=site_id)
            retirement.add_listener(reports.report)
            retire = CloudRetirements(retirement, Audit(store), reports)
            link.subscribe(topics.site_down(namespace, site_id, topics.SiteDown.RETIRE), retire.handle)
        # upgrade campaigns ordered by the cloud (the API attaches the upgrade service), their progress reported
        campaign_reports = CampaignReports(CampaignRows(store), outbox, namespace=namespace, site_id=site_id)
        upgrades = CloudUpgrades(campaign_reports, Audit(store))
        link.subscribe(topics.site_down(namespace, site_id, topics.SiteDown.UPGRADE), upgrades.handle)
        link.add_connected_listener(outbox.wake)
        link.add_connected_listener(beats.on_connected)
        registry.add_listener(beats.on_presence)
        fanout.start()
        lifecycle.on_stop("cloud commands", fanout.stop)
        beats.on_announced = outbox.wake
        outbox.start(AnnouncedLink(link, beats))  # the site's agents first: the cloud refuses news of strangers
        lifecycle.on_stop("outbox", outbox.stop)
        beats.start()
        lifecycle.on_stop("site heartbeats", beats.stop)
        uploads.start()
        lifecycle.on_stop("log uploads", uploads.stop)
        upgrades.start()
        lifecycle.on_stop("cloud upgrade orders", upgrades.stop)
        campaign_reports.start()
        lifecycle.on_stop("upgrade campaign reports", campaign_reports.stop)
        snapshots = SnapshotSync(store, outbox, namespace=namespace, site_id=site_id).start()
        lifecycle.on_stop("agent snapshots", snapshots.stop)
        rollups = MetricRollupSync(store, outbox, namespace=namespace, site_id=site_id).start()
        lifecycle.on_stop("metric rollups", rollups.stop)
        # Agents' desired settings from their device shadows (before the link starts: it subscribes then).
        shadows = ShadowSync(link, router, registry, outbox, namespace=namespace, site_id=site_id)

        # The tenant's alert rules from the alerts:rules shadow (edge.lms.alerts.rules_shadow).
        alert_rules = None
        if alerting is not None:  # and acknowledgements made in the cloud (edge.lms.alerts.cloud_acknowledgements)
            acks = CloudAcknowledgements(alerting, Audit(store))
            link.subscribe(topics.site_down(namespace, site_id, topics.SiteDown.ALERT_ACK), acks.handle)
            alert_rules = RulesShadowSync(link, outbox, alerting.rules, namespace=namespace, site_id=site_id)
            link.add_connected_listener(alert_rules.on_connected)
            alert_rules.start()
            lifecycle.on_stop("tenant alert rules", alert_rules.stop)

        def on_shadow(topic: str, payload: bytes) -> None:  # one subscription for every named shadow of the thing
            shadows.handle(topic, payload)  # keeps the agents' shadows
            config.handle(topic, payload)  # keeps lms:config
            if alert_rules is not None:
                alert_rules.handle(topic, payload)  # keeps alerts:rules

        link.subscribe(shadows.topic_filter, on_shadow)
        link.add_connected_listener(shadows.on_connected)
        link.add_connected_listener(config.on_connected)
        config.start()
        lifecycle.on_stop("cloud configuration", config.stop)
        registry.add_listener(shadows.on_presence)
        shadows.start()
        lifecycle.on_stop("shadow settings", shadows.stop)
        try:
            link.start()
        except Exception as exc:  # awscrt raises for unusable TLS files or options
            raise CloudLinkError(f"cannot start the cloud link: {exc}") from None
        lifecycle.on_stop("cloud link", link.stop)
        return cls(link, outbox, beats, config, upgrades)

    def attach_upgrades(self, upgrades: Upgrades) -> None:
        """The LMS's upgrade service, made with the API: cloud-ordered campaigns start from then on."""
        if self._upgrades is not None:
            self._upgrades.attach(upgrades)

    def report_expiring(self, expiring: Callable[[], list[str]]) -> None:
        """Heartbeats name the site's certificates about to lapse (``certificates_expiring``)."""
        if self._beats is not None:
            self._beats.certificates_expiring = expiring

    def reconfigure(self, cfg: LmsConfig) -> None:
        """A new effective configuration is in force (:meth:`edge.lms.lms_parts.LmsParts.apply_config`)."""
        if self._beats is not None:
            self._beats.reconfigure(cfg.site_heartbeat_s)

    @property
    def connected(self) -> bool:
        return self._link.connected

    @property
    def outbox(self) -> Outbox:
        """The durable outbox (the site's alerts go to the cloud through it)."""
        return self._outbox

    def config_version(self) -> str:
        sync = self.config_sync
        return sync.config_version() if sync is not None else ""

    def outbox_pending(self) -> int:
        return self._outbox.pending()

    def outbox_dead(self) -> int:
        return self._outbox.dead()

    def dead_letters(self, limit: int) -> list[DeadLetter]:
        return self._outbox.dead_letters(limit)

    def dead_letter(self, dead_id: int) -> DeadLetter | None:
        return self._outbox.dead_letter(dead_id)

    def retry_dead(self, dead_id: int) -> int | None:
        return self._outbox.retry_dead(dead_id)

    def discard_dead(self, dead_id: int) -> bool:
        return self._outbox.discard_dead(dead_id)
