"""The agent registry: ``AgentModel`` items <-> :class:`Agent`. Reads by key or by index, never by scan.

Tags live on the agent item (a string set) and, for "agents with tag X", as ``LabelModel`` items written in the
same transaction as the agent.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.transactions import TransactWrite

from chalicelib.domain.agent import Agent, AgentFilter
from chalicelib.domain.approval import Approval
from chalicelib.domain.page import Page
from chalicelib.errors import StaleWrite, UpstreamError
from chalicelib.models.agent import AgentModel
from chalicelib.models.label import LabelModel
from chalicelib.repositories.dynamo import check_limit, decode_cursor, dynamo_errors, encode_cursor
from shared.messages import AgentKind, Presence

_SITE_KEYS = frozenset({"agent_id", "site_id"})
_TENANT_KEYS = frozenset({"agent_id", "tenant"})
_GROUP_KEYS = frozenset({"agent_id", "group"})
_PENDING_KEYS = frozenset({"agent_id", "pending_tenant"})
_LABEL_KEYS = frozenset({"agent_id", "label"})


def tag_label(tag: str) -> str:
    return f"tag#{tag}"


class AgentRepository:
    def __init__(self, tenant: str) -> None:
        self._tenant = tenant

    def get(self, agent_id: str) -> Agent | None:
        with dynamo_errors(f"read agent {agent_id}"):
            try:
                return _to_agent(AgentModel.get(agent_id))
            except AgentModel.DoesNotExist:
                return None

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
        check_limit(limit)
        f = filters or AgentFilter(site_id=site_id)
        if site_id is not None and f.site_id is None:
            f = AgentFilter(site_id, f.status, f.group, f.tag, f.pending)
        if f.tag is not None:
            return self._page_by_tag(f, limit, cursor)
        condition = self._condition(f, skip_site=f.group is None and not f.pending)
        with dynamo_errors("list agents"):
            if f.group is not None:
                result = AgentModel.by_group.query(f.group, filter_condition=condition, limit=limit,
                                                   last_evaluated_key=decode_cursor(cursor, _GROUP_KEYS))
            elif f.pending:
                result = AgentModel.by_pending.query(self._tenant, filter_condition=condition, limit=limit,
                                                     last_evaluated_key=decode_cursor(cursor, _PENDING_KEYS))
            elif f.site_id is not None:
                result = AgentModel.by_site.query(f.site_id, filter_condition=condition, limit=limit,
                                                  last_evaluated_key=decode_cursor(cursor, _SITE_KEYS))
            else:
                result = AgentModel.by_tenant.query(self._tenant, filter_condition=condition, limit=limit,
                                                    last_evaluated_key=decode_cursor(cursor, _TENANT_KEYS))
            items = [_to_agent(item) for item in result]
            return Page(items, encode_cursor(result.last_evaluated_key) if len(items) == limit else None)

    def _page_by_tag(self, f: AgentFilter, limit: int, cursor: str | None) -> Page[Agent]:
        assert f.tag is not None
        with dynamo_errors("list agents by tag"):
            result = LabelModel.query(tag_label(f.tag), limit=limit,
                                      last_evaluated_key=decode_cursor(cursor, _LABEL_KEYS))
            ids = [item.agent_id for item in result]
            next_cursor = encode_cursor(result.last_evaluated_key) if len(ids) == limit else None
        agents = self.get_many(ids)
        kept = [
            agents[a] for a in ids if a in agents
            and (f.site_id is None or agents[a].site_id == f.site_id)
            and (f.status is None or agents[a].status is f.status)
            and (f.group is None or agents[a].group == f.group)
            and (not f.pending or agents[a].approval is Approval.PENDING)
        ]
        return Page(kept, next_cursor)

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
        return _to_agent(item)

    def save_with_tags(self, agent: Agent, previous_tags: frozenset[str]) -> Agent:
        """Write ``agent`` and its tag memberships in one transaction (else :class:`StaleWrite`)."""
        item = self._to_item(agent)
        connection = AgentModel._get_connection().connection
        try:
            with TransactWrite(connection=connection) as transaction:
                transaction.save(item)
                for tag in sorted(agent.tags - previous_tags):
                    transaction.save(LabelModel(tag_label(tag), agent.agent_id, site_id=agent.site_id))
                for tag in sorted(previous_tags - agent.tags):
                    transaction.delete(LabelModel(tag_label(tag), agent.agent_id))
        except TransactWriteError as exc:
            reasons = [r.code for r in (exc.cancellation_reasons or []) if r is not None]
            if "ConditionalCheckFailed" in reasons:
                raise StaleWrite(f"agent {agent.agent_id} changed meanwhile") from exc
            raise UpstreamError(f"write agent {agent.agent_id}: DynamoDB error {exc.cause_response_code}") from exc
        item.revision = (agent.revision or 0) + 1
        return _to_agent(item)

    def _to_item(self, agent: Agent) -> AgentModel:
        fields: dict[str, Any] = dict(
            tenant=self._tenant,
            site_id=agent.site_id,
            status=agent.status.value,
            kind=agent.kind.value,
            last_seen=agent.last_seen,
            version=agent.version,
            hostname=agent.hostname,
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
        changed_at=float(item.changed_at),
        group=item.group,
        tags=frozenset(item.tags or ()),
        approval=Approval(item.approval or Approval.APPROVED.value),
        revision=item.revision,
    )
