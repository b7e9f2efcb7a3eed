"""The agent registry: ``AgentModel`` items <-> :class:`Agent`. Reads by key or by index, never by scan."""

from __future__ import annotations

from collections.abc import Iterable

from chalicelib.domain.agent import Agent
from chalicelib.domain.page import Page
from chalicelib.models.agent import AgentModel
from chalicelib.repositories.dynamo import check_limit, decode_cursor, dynamo_errors, encode_cursor
from shared.messages import AgentKind, Presence

_SITE_KEYS = frozenset({"agent_id", "site_id"})
_TENANT_KEYS = frozenset({"agent_id", "tenant"})


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

    def page(self, *, site_id: str | None = None, limit: int = 100, cursor: str | None = None) -> Page[Agent]:
        """One page of agents, of one site or of the whole tenant, ordered by agent id."""
        check_limit(limit)
        with dynamo_errors("list agents"):
            if site_id is not None:
                result = AgentModel.by_site.query(
                    site_id, limit=limit, last_evaluated_key=decode_cursor(cursor, _SITE_KEYS)
                )
            else:
                result = AgentModel.by_tenant.query(
                    self._tenant, limit=limit, last_evaluated_key=decode_cursor(cursor, _TENANT_KEYS)
                )
            items = [_to_agent(item) for item in result]
            return Page(items, encode_cursor(result.last_evaluated_key) if len(items) == limit else None)

    def save(self, agent: Agent) -> Agent:
        """Write ``agent`` if its stored revision is still ``agent.revision`` (else :class:`StaleWrite`)."""
        item = AgentModel(
            agent.agent_id,
            tenant=self._tenant,
            site_id=agent.site_id,
            status=agent.status.value,
            kind=agent.kind.value,
            last_seen=agent.last_seen,
            version=agent.version,
            hostname=agent.hostname,
            changed_at=agent.changed_at,
        )
        if agent.revision is not None:
            item.revision = agent.revision
        with dynamo_errors(f"write agent {agent.agent_id}"):
            item.save()
        return _to_agent(item)


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
        revision=item.revision,
    )
