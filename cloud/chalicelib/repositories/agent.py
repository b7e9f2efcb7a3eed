"""The agent registry: ``AgentModel`` items <-> :class:`Agent`. Reads by key or by index, never by scan.

Tags live on the agent item (a string set) and, for "agents with tag X", as ``LabelModel`` items written in the
same transaction as the agent.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pynamodb.expressions.condition import Condition

from chalicelib.domain.agent import Agent, AgentFilter
from chalicelib.domain.approval import Approval
from chalicelib.domain.page import Page
from chalicelib.models.agent import AgentModel
from chalicelib.models.label import LabelModel
from chalicelib.repositories.base import (
    TenantRepository,
    dynamo_errors,
    read_item,
    read_page,
    transaction,
)
from chalicelib.repositories.change_mark import Area, bump
from shared.messages import AgentKind, Presence

_SITE_KEYS = frozenset({"agent_id", "site_id"})
_TENANT_KEYS = frozenset({"agent_id", "tenant"})
_GROUP_KEYS = frozenset({"agent_id", "group"})
_PENDING_KEYS = frozenset({"agent_id", "pending_tenant"})
_LABEL_KEYS = frozenset({"agent_id", "label"})


def tag_label(tag: str) -> str:
    return f"tag#{tag}"


class AgentRepository(TenantRepository):
    def get(self, agent_id: str) -> Agent | None:
        item = read_item(AgentModel, agent_id, what=f"read agent {agent_id}")
        return None if item is None else _to_agent(item)

    def get_many(self, agent_ids: Iterable[str]) -> dict[str, Agent]:
        """The stored agents among ``agent_ids`` (BatchGetItem; unknown ids are simply absent)."""
        keys = sorted(set(agent_ids))
        if not keys:
            return {}
        with dynamo_errors("read agents"):
            return {item.agent_id: _to_agent(item) for item in AgentModel.batch_get(keys)}

    def list_by_site(self, site_id: str) -> list[Agent]:
        """Every agent of a site (all pages of the ``by_site`` index)."""
        with dynamo_errors(f"list agents of site {site_id}"):
            return [_to_agent(item) for item in AgentModel.by_site.query(site_id)]

    def page(self, *, site_id: str | None = None, limit: int = 100, cursor: str | None = None,
             filters: AgentFilter | None = None) -> Page[Agent]:
        """One page of agents ordered by agent id. The most selective index answers (tag > group > pending >
        site > tenant); the other filters are Query filter expressions. A page may hold fewer than ``limit``
        agents when a filter dropped some: follow ``cursor`` until it is ``None``."""
        f = filters or AgentFilter(site_id=site_id)
        if site_id is not None and f.site_id is None:
            f = AgentFilter(site_id, f.status, f.group, f.tag, f.pending)
        if f.tag is not None:
            return self._page_by_tag(f, limit, cursor)
        condition = self._condition(f, skip_site=f.group is None and not f.pending)
        if f.group is not None:
            index, partition, keys = AgentModel.by_group, f.group, _GROUP_KEYS
        elif f.pending:
            index, partition, keys = AgentModel.by_pending, self._tenant, _PENDING_KEYS
        elif f.site_id is not None:
            index, partition, keys = AgentModel.by_site, f.site_id, _SITE_KEYS
        else:
            index, partition, keys = AgentModel.by_tenant, self._tenant, _TENANT_KEYS
        return read_page(lambda start: index.query(partition, filter_condition=condition, limit=limit,
                                                   last_evaluated_key=start),
                         keys, limit=limit, cursor=cursor, convert=_to_agent, what="list agents")

    def _page_by_tag(self, f: AgentFilter, limit: int, cursor: str | None) -> Page[Agent]:
        assert f.tag is not None
        page = read_page(lambda start: LabelModel.query(tag_label(f.tag or ""), limit=limit, last_evaluated_key=start),
                         _LABEL_KEYS, limit=limit, cursor=cursor, convert=lambda item: item.agent_id,
                         what="list agents by tag")
        agents = self.get_many(page.items)
        kept = [
            agents[a] for a in page.items if a in agents
            and (f.site_id is None or agents[a].site_id == f.site_id)
            and (f.status is None or agents[a].status is f.status)
            and (f.group is None or agents[a].group == f.group)
            and (not f.pending or agents[a].approval is Approval.PENDING)
        ]
        return Page(kept, page.cursor)

    @staticmethod
    def _condition(f: AgentFilter, *, skip_site: bool) -> Condition | None:
        parts: list[Condition] = []
        if f.site_id is not None and not skip_site:
            parts.append(AgentModel.site_id == f.site_id)
        if f.status is not None:
            parts.append(AgentModel.status == f.status.value)
        if f.pending and f.group is not None:
            parts.append(AgentModel.approval == Approval.PENDING.value)
        condition: Condition | None = None
        for part in parts:
            condition = part if condition is None else condition & part
        return condition

    def save(self, agent: Agent) -> Agent:
        """Write ``agent`` if its stored revision is still ``agent.revision`` (else :class:`StaleWrite`)."""
        item = self._to_item(agent)
        with dynamo_errors(f"write agent {agent.agent_id}"):
            item.save()
        bump(Area.AGENTS)
        return _to_agent(item)

    def save_with_tags(self, agent: Agent, previous_tags: frozenset[str]) -> Agent:
        """Write ``agent`` and its tag memberships in one transaction (else :class:`StaleWrite`)."""
        item = self._to_item(agent)
        with transaction(AgentModel, what=f"write agent {agent.agent_id}",
                         stale=f"agent {agent.agent_id} changed meanwhile") as writes:
            writes.save(item)
            for tag in sorted(agent.tags - previous_tags):
                writes.save(LabelModel(tag_label(tag), agent.agent_id, site_id=agent.site_id))
            for tag in sorted(previous_tags - agent.tags):
                writes.delete(LabelModel(tag_label(tag), agent.agent_id))
        bump(Area.AGENTS)
        item.revision = (agent.revision or 0) + 1
        return _to_agent(item)

    def delete(self, agent: Agent) -> None:
        """Delete ``agent`` and its tag memberships in one transaction, if nobody wrote it since it was read (else
        :class:`StaleWrite`)."""
        item = AgentModel(agent.agent_id)
        item.revision = agent.revision
        with transaction(AgentModel, what=f"delete agent {agent.agent_id}",
                         stale=f"agent {agent.agent_id} changed meanwhile") as writes:
            writes.delete(item)
            for tag in sorted(agent.tags):
                writes.delete(LabelModel(tag_label(tag), agent.agent_id))
        bump(Area.AGENTS)

    def _to_item(self, agent: Agent) -> AgentModel:
        fields: dict[str, Any] = dict(
            tenant=self._tenant,
            site_id=agent.site_id,
            status=agent.status.value,
            kind=agent.kind.value,
            last_seen=agent.last_seen,
            version=agent.version,
            hostname=agent.hostname,
            config_version=agent.config_version,
            changed_at=agent.changed_at,
            group=agent.group,
            tags=set(agent.tags) or None,
            approval=None if agent.approval is Approval.APPROVED else agent.approval.value,
            pending_tenant=self._tenant if agent.approval is Approval.PENDING else None,
        )
        item = AgentModel(agent.agent_id, **fields)
        if agent.revision is not None:
            item.revision = agent.revision
        return item


def _to_agent(item: AgentModel) -> Agent:
    return Agent(
        agent_id=item.agent_id,
        site_id=item.site_id,
        status=Presence(item.status),
        kind=AgentKind(item.kind),
        last_seen=None if item.last_seen is None else float(item.last_seen),
        version=item.version,
        hostname=item.hostname,
        config_version=item.config_version,
        changed_at=float(item.changed_at),
        group=item.group,
        tags=frozenset(item.tags or ()),
        approval=Approval(item.approval or Approval.APPROVED.value),
        revision=item.revision,
    )
