"""The upgrade service of the LMS: package downloads with tickets, and campaigns run wave by wave.

A campaign sends ``upgrade_agent`` (url with a per-agent ticket, sha256, signature, version, rollback_s) to the
agents of one wave at once and waits for each verdict: ``upgraded`` when the agent is online reporting the new
version; ``rolled_back`` when, ``rollback_s + grace_s`` after it accepted, it is online on another version;
``failed`` when it refused the package or is offline. The first wave is the canary; after a wave with any
agent not ``upgraded`` the campaign stops (``failed``) and its later waves stay ``cancelled``. Campaigns run as
asyncio tasks in the API's event loop; one still ``running`` when the LMS starts is marked ``interrupted``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from pathlib import Path
from typing import Any

from edge.lms.agents.registry import Registry
from edge.lms.auth import Principal
from edge.lms.commands.command_service import CommandService
from edge.lms.config import LmsConfig
from edge.lms.store import Store
from edge.lms.upgrades.campaigns import AgentState, CampaignRows, CampaignState, plan_waves
from edge.lms.upgrades.packages import PackageInfo, PackageStore, packages_dir
from edge.lms.upgrades.tickets import DownloadTickets
from shared.agent_packages import VERSION_PATTERN, is_newer

log = logging.getLogger(__name__)

POLL_S = 0.5
COMMAND_TIMEOUT_S = 180.0
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})
NOT_CONFIGURED = "agent upgrades are not configured on this LMS: add [upgrades] release_public_key to lms.toml"


class UpgradeRefused(Exception):
    """A request the upgrade service refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class Upgrades:
    def __init__(self, config: LmsConfig, store: Store, registry: Registry, commands: CommandService) -> None:
        self.config = config
        self.settings = config.upgrades
        self.registry = registry
        self.commands = commands
        self.rows = CampaignRows(store)
        self.packages = PackageStore(packages_dir(config.db_path), self.settings.release_public_key) if self.settings \
            else None  # fmt: skip
        self.tickets = DownloadTickets(self.settings.ticket_ttl_s if self.settings else 60.0)
        self._tasks: dict[int, asyncio.Task[None]] = {}
        for campaign_id in self.rows.running():
            self.rows.finish(campaign_id, CampaignState.INTERRUPTED, "the LMS stopped while the campaign ran")

    # ------------------------------------------------------------ packages

    def package_list(self) -> list[PackageInfo]:
        return self.packages.list() if self.packages else []

    def download(self, version: str, agent_id: str, ticket: str) -> Path | None:
        """The archive an agent with a valid ticket may fetch (None: no such package, or no valid ticket)."""
        if self.packages is None or not re.match(VERSION_PATTERN, version) or self.packages.get(version) is None:
            return None
        if not self.tickets.verify(ticket, agent_id, version):
            return None
        return self.packages.archive(version)

    def base_url(self) -> str:
        """How agents reach this API: ``package_base_url``, else the HTTP host (the broker's advertised host
        when the API listens on every address); :class:`UpgradeRefused` when neither names this machine."""
        assert self.settings is not None
        if self.settings.package_base_url:
            return self.settings.package_base_url
        host = self.config.http_host
        if host in WILDCARD_HOSTS:
            dynsec = self.config.site_broker.dynsec
            host = dynsec.advertise_host if dynsec is not None and dynsec.advertise_host else ""
        if not host:
            raise UpgradeRefused("agents cannot be told where to download from: set [upgrades] package_base_url "
                                 "(e.g. https://lms.school.lan:8443)", 409)  # fmt: skip
        scheme = "https" if self.config.http_tls else "http"
        return f"{scheme}://{'[' + host + ']' if ':' in host else host}:{self.config.http_port}"

    # ------------------------------------------------------------ campaigns

    def create(self, principal: Principal, version: str, agent_ids: list[str] | None, canary_percent: float,
               wave_size: int, *, cloud_campaign_id: str | None = None) -> dict[str, Any]:  # fmt: skip
        """Start a campaign (its waves run as a task of the running event loop). ``cloud_campaign_id``: the cloud
        ordered it (:mod:`edge.lms.cloud.upgrade_orders`); kept in its options, and its progress goes to the cloud."""
        if self.packages is None or self.settings is None:
            raise UpgradeRefused(NOT_CONFIGURED, 409)
        package = self.packages.get(version)
        if package is None:
            raise UpgradeRefused(f"no package {version} on this LMS (add it first: python -m edge.lms.upgrades "
                                 "add-package)", 404)  # fmt: skip
        if self.rows.running():
            raise UpgradeRefused("another campaign is running: wait for it or cancel it", 409)
        self.base_url()  # refuses now rather than at the first agent
        known = {a.agent_id: a for a in self.registry.agents() if a.kind == "agent"}
        targets = sorted(known) if agent_ids is None else list(dict.fromkeys(agent_ids))
        unknown = [a for a in targets if a not in known]
        if unknown:
            raise UpgradeRefused(f"unknown agent(s): {', '.join(unknown[:20])}", 404)
        targets = [a for a in targets if not (known[a].version and not is_newer(version, known[a].version or ""))]
        if not targets:
            raise UpgradeRefused(f"no agent to upgrade: every one already runs {version} or newer")
        waves = plan_waves(targets, canary_percent, wave_size)
        options: dict[str, Any] = {"canary_percent": canary_percent, "wave_size": wave_size,
                                   "rollback_s": self.settings.rollback_s}  # fmt: skip
        if cloud_campaign_id is not None:
            options["cloud_campaign_id"] = cloud_campaign_id
        campaign_id = self.rows.create(
            version, package.sha256, [[(a, known[a].version) for a in wave] for wave in waves], options,
            principal.actor,
        )
        log.info("campaign #%d: %s to %d agent(s) in %d wave(s), by %s", campaign_id, version, len(targets),
                 len(waves), principal.actor)  # fmt: skip
        self._tasks[campaign_id] = asyncio.get_running_loop().create_task(
            self._run(campaign_id, principal, package, waves), name=f"upgrade-campaign-{campaign_id}"
        )
        campaign = self.rows.get(campaign_id)
        assert campaign is not None
        return campaign

    def cancel(self, campaign_id: int) -> dict[str, Any]:
        if self.rows.get(campaign_id) is None:
            raise UpgradeRefused(f"no campaign #{campaign_id}", 404)
        if not self.rows.finish(campaign_id, CampaignState.CANCELLED, "cancelled: no further wave is started"):
            raise UpgradeRefused(f"campaign #{campaign_id} is not running", 409)
        campaign = self.rows.get(campaign_id)
        assert campaign is not None
        return campaign

    async def _run(self, campaign_id: int, principal: Principal, package: PackageInfo,
                   waves: list[list[str]]) -> None:  # fmt: skip
        try:
            for n, wave in enumerate(waves):
                if self.rows.state(campaign_id) is not CampaignState.RUNNING:
                    return
                log.info("campaign #%d: wave %d of %d: %s", campaign_id, n + 1, len(waves), ", ".join(wave))
                states = await asyncio.gather(*(self._upgrade(campaign_id, principal, package, a) for a in wave))
                bad = [f"{a}: {s.value}" for a, s in zip(wave, states, strict=True) if s is not AgentState.UPGRADED]
                if bad:
                    self.rows.finish(campaign_id, CampaignState.FAILED,
                                     f"stopped after wave {n + 1}: {'; '.join(bad)}")  # fmt: skip
                    return
            self.rows.finish(campaign_id, CampaignState.SUCCEEDED)
        except Exception as exc:  # never leave a campaign "running" behind
            log.exception("campaign #%d crashed", campaign_id)
            self.rows.finish(campaign_id, CampaignState.FAILED, f"internal error: {exc}")
        finally:
            self._tasks.pop(campaign_id, None)

    async def _upgrade(self, campaign_id: int, principal: Principal, package: PackageInfo, agent_id: str) -> AgentState:
        assert self.settings is not None
        ticket = self.tickets.mint(agent_id, package.version)
        url = f"{self.base_url()}/api/upgrades/packages/{package.version}/download?agent={agent_id}&ticket={ticket}"
        params = {"url": url, "version": package.version, "sha256": package.sha256, "signature": package.signature,
                  "rollback_s": self.settings.rollback_s}  # fmt: skip
        self.rows.set_agent(campaign_id, agent_id, AgentState.SENT)
        outcome = await self.commands.run(principal, agent_id, "upgrade_agent", params, COMMAND_TIMEOUT_S)
        response = outcome.response
        if response is None or not response.success:
            why = response.error if response is not None else "no answer"
            self.rows.set_agent(campaign_id, agent_id, AgentState.FAILED, detail=f"refused: {why}")
            return AgentState.FAILED
        self.rows.set_agent(campaign_id, agent_id, AgentState.RESTARTING, detail="installed; restarting")
        deadline = time.monotonic() + self.settings.rollback_s + self.settings.grace_s
        while time.monotonic() < deadline:
            view = self.registry.get(agent_id)
            if view is not None and view.online and view.version == package.version:
                self.rows.set_agent(campaign_id, agent_id, AgentState.UPGRADED, version=view.version)
                return AgentState.UPGRADED
            await asyncio.sleep(POLL_S)
        view = self.registry.get(agent_id)
        limit = f"not online on {package.version} within {self.settings.rollback_s:g} s"
        if view is not None and view.online:
            self.rows.set_agent(campaign_id, agent_id, AgentState.ROLLED_BACK, version=view.version,
                                detail=f"{limit}: rolled back to {view.version}")  # fmt: skip
            return AgentState.ROLLED_BACK
        self.rows.set_agent(campaign_id, agent_id, AgentState.FAILED, detail=f"{limit}: offline")
        return AgentState.FAILED
