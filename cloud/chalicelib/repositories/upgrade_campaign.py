"""Upgrade campaigns (``UpgradeCampaignModel``): a campaign and its sites created together, read whole, listed
newest first; a site's and an agent's state replaced only by a later report."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from typing import Any

from chalicelib.domain.upgrade_campaign import CampaignAgent, CampaignSite, UpgradeCampaign
from chalicelib.errors import StaleWrite
from chalicelib.models.upgrade_campaign import CAMPAIGN_ITEM, UpgradeCampaignModel
from chalicelib.repositories.base import create_item, dynamo_errors, read_item

#: items of one campaign read at most (its sites and agents)
MAX_ITEMS = 20_000


def _site_item(site_id: str) -> str:
    return f"site#{site_id}"


def _agent_item(site_id: str, agent_id: str) -> str:
    return f"agent#{site_id}#{agent_id}"


class UpgradeCampaignRepository:
    def create(self, campaign: UpgradeCampaign, sites: list[CampaignSite]) -> None:
        header = UpgradeCampaignModel(campaign.campaign_id, CAMPAIGN_ITEM, listed=CAMPAIGN_ITEM,
                                      created_at=campaign.created_at, data=_json(dataclasses.asdict(campaign)))
        create_item(header, UpgradeCampaignModel.campaign_id, what=f"store campaign {campaign.campaign_id}",
                    conflict=f"campaign {campaign.campaign_id} exists")  # fmt: skip
        with dynamo_errors(f"store the sites of campaign {campaign.campaign_id}"), \
                UpgradeCampaignModel.batch_write() as batch:  # fmt: skip
            for site in sites:
                batch.save(UpgradeCampaignModel(campaign.campaign_id, _site_item(site.site_id),
                                                data=_json(dataclasses.asdict(site))))  # fmt: skip

    def get(self, campaign_id: str) -> UpgradeCampaign | None:
        item = read_item(UpgradeCampaignModel, campaign_id, CAMPAIGN_ITEM, what=f"read campaign {campaign_id}",
                         consistent=True)  # fmt: skip
        return None if item is None else _campaign(item.data)

    def get_whole(self, campaign_id: str) -> tuple[UpgradeCampaign, list[CampaignSite], list[CampaignAgent]] | None:
        with dynamo_errors(f"read campaign {campaign_id}"):
            items = list(UpgradeCampaignModel.query(campaign_id, consistent_read=True, limit=MAX_ITEMS))
        header = next((i for i in items if i.item == CAMPAIGN_ITEM), None)
        if header is None:
            return None
        sites = [CampaignSite(**json.loads(i.data)) for i in items if i.item.startswith("site#")]
        agents = [CampaignAgent(**json.loads(i.data)) for i in items if i.item.startswith("agent#")]
        return _campaign(header.data), sites, agents

    def newest(self, limit: int) -> list[UpgradeCampaign]:
        with dynamo_errors("list campaigns"):
            items = UpgradeCampaignModel.by_created.query(CAMPAIGN_ITEM, scan_index_forward=False, limit=limit)
            return [_campaign(i.data) for i in items]

    def sites(self, campaign_id: str) -> list[CampaignSite]:
        with dynamo_errors(f"read the sites of campaign {campaign_id}"):
            items = UpgradeCampaignModel.query(campaign_id, UpgradeCampaignModel.item.startswith("site#"),
                                               consistent_read=True)  # fmt: skip
            return [CampaignSite(**json.loads(i.data)) for i in items]

    def set_cancelled(self, campaign: UpgradeCampaign, at: float) -> UpgradeCampaign:
        cancelled = dataclasses.replace(campaign, cancelled_at=at)
        item = UpgradeCampaignModel(campaign.campaign_id, CAMPAIGN_ITEM)
        with dynamo_errors(f"cancel campaign {campaign.campaign_id}"):
            item.update(actions=[UpgradeCampaignModel.data.set(_json(dataclasses.asdict(cancelled)))])
        return cancelled

    def save_site(self, campaign_id: str, site: CampaignSite) -> bool:
        """Store a site's state unless a later report is stored already (False then)."""
        return self._save_newer(campaign_id, _site_item(site.site_id), site.reported_at, dataclasses.asdict(site))

    def save_agent(self, campaign_id: str, agent: CampaignAgent) -> bool:
        return self._save_newer(campaign_id, _agent_item(agent.site_id, agent.agent_id), agent.updated_at,
                                dataclasses.asdict(agent))  # fmt: skip

    def _save_newer(self, campaign_id: str, key: str, at: float, data: dict[str, Any]) -> bool:
        item = UpgradeCampaignModel(campaign_id, key, at=at, data=_json(data))
        condition = UpgradeCampaignModel.item.does_not_exist() | (UpgradeCampaignModel.at <= at)
        with contextlib.suppress(StaleWrite), dynamo_errors(f"store {key} of campaign {campaign_id}"):
            item.save(condition=condition)
            return True
        return False


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), sort_keys=True)


def _campaign(data: str) -> UpgradeCampaign:
    raw = json.loads(data)
    raw["site_ids"] = tuple(raw["site_ids"])
    raw["agent_ids"] = None if raw["agent_ids"] is None else tuple(raw["agent_ids"])
    return UpgradeCampaign(**raw)
