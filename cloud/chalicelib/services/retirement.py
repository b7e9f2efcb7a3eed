"""Retiring an agent or a whole site from the cloud (admin): what the cloud keeps of it is cleaned, and a retired
site's LMS is refused from then on.

* **An agent**: its LMS is ordered to retire it (an :class:`~shared.messages.AgentRetire` on
  ``site_down(..., RETIRE)``, a site order: :mod:`chalicelib.services.site_orders` keeps it and sends it again after
  the site's full heartbeats until the LMS reports the agent retired, so an LMS offline now gets it when it is
  back). Its LMS revokes the agent's broker credentials and archives it, as its own ``POST /api/clients/{uuid}/
  retire`` does. Then its settings shadow (``{agent_id}``) and camera shadow (``cctv:{agent_id}``) of its site's
  thing are deleted — a shadow store that cannot delete (the local twin's, until it serves ``DeleteThingShadow``)
  gets both documents cleared instead — then its item and its tag memberships (one transaction). While the order
  waits, the site's heartbeats do not bring the agent back.
* **An agent retired at its site** (the LMS's API or CLI, or a cloud order carried out): the LMS reports it through
  its outbox (:class:`~shared.messages.AgentsRetired` on ``site_up(..., RETIRED)``), and the cloud cleans its
  records as above (:meth:`RetirementService.retired_at_site`) — only of agents of that site: a site cannot retire
  another site's agent.
* **A site**: each of its agents is retired as above (its LMS is not told: it is cut off anyway); its certificate
  is detached from its thing and from the site policy, deactivated and deleted, and its thing deleted
  (:class:`IdentityIssuer`); its API key is deleted; the site's item is kept, marked retired (``retired_at``,
  approval ``rejected``, no identity left), so that its LMS is refused from then on: IoT Core refuses the
  certificate, the API refuses the key (401), a registration without credentials finds the site existing (409),
  its heartbeats are refused (not approved); the orders still waiting for it are dropped. Bringing it back takes
  an enrolment token an admin binds to its id.

Each step is safe to repeat: a retirement that failed half-way (IoT Core down) is finished by running it again.
The routes audit every call.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.registry import IdentityIssuer
from chalicelib.adapters.shadows import ShadowStore
from chalicelib.config import Settings
from chalicelib.domain.agent import Agent
from chalicelib.domain.approval import Approval
from chalicelib.domain.site import Site
from chalicelib.domain.token import Principal
from chalicelib.errors import NotFound, UpstreamError
from chalicelib.repositories.agent import AgentRepository
from chalicelib.repositories.site import SiteRepository
from chalicelib.repositories.token import TokenRepository
from chalicelib.services.agents import AgentService
from chalicelib.services.optimistic_writes import retry_stale
from chalicelib.services.site_orders import SiteOrders, retire_key
from chalicelib.services.sites import visible_site
from shared.errors import ErrorCode
from shared.names import Namespace
from shared.topics import SiteDown, agent_shadow_name, cctv_shadow_name, site_thing_name

if TYPE_CHECKING:
    from shared.messages.structs import AgentsRetired  # the site's message, decoded by its msgspec mirror

log = logging.getLogger(__name__)



@dataclass(frozen=True, slots=True)
class ShadowsCleaned:
    #: the shadows deleted (or cleared, see ``how``)
    shadows: tuple[str, ...]
    #: ``deleted`` or ``cleared`` (the store cannot delete)
    how: str


@dataclass(frozen=True, slots=True)
class RetiredAgent:
    agent_id: str
    site_id: str
    shadows: ShadowsCleaned
    #: whether the order to its LMS was published now (else it goes after the site's next full heartbeat)
    lms_told: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"agent_id": self.agent_id, "site_id": self.site_id, "retired": True,
                "shadows": list(self.shadows.shadows), "shadows_cleaned": self.shadows.how,
                "lms_told": self.lms_told}  # fmt: skip


@dataclass(frozen=True, slots=True)
class SiteRetirements:
    """What the cloud did with a site's report of retired agents."""

    #: agents whose cloud records were cleaned now
    cleaned: tuple[str, ...]
    #: agents of other sites, left alone
    refused: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RetiredSite:
    site: Site
    agents: tuple[str, ...]
    certificate_revoked: bool

    def to_dict(self) -> dict[str, Any]:
        return {"site_id": self.site.site_id, "retired": True, "retired_at": self.site.retired_at,
                "agents_retired": list(self.agents), "certificate_revoked": self.certificate_revoked}  # fmt: skip


class RetirementService:
    def __init__(
        self,
        agents: AgentRepository,
        agent_service: AgentService,
        sites: SiteRepository,
        secrets: TokenRepository,
        issuer: IdentityIssuer,
        shadows: ShadowStore,
        orders: SiteOrders,
        settings: Settings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._agents = agents
        self._agent_service = agent_service
        self._sites = sites
        self._secrets = secrets
        self._issuer = issuer
        self._shadows = shadows
        self._orders = orders
        self._settings = settings
        self._namespace: Namespace = settings.namespace
        self._clock = clock

    # ------------------------------------------------------------ agents

    def retire_agent(self, agent_id: str, principal: Principal, reason: str | None = None) -> RetiredAgent:
        """Retire one agent the caller may see (another site's is a 404, like an unknown one); its LMS is ordered
        first (a site order: stored, then published; one not published now goes after the site's next heartbeat)."""
        agent = self._agent_service.get(agent_id, principal)
        principal.require_sites({agent.site_id})
        from shared.messages import AgentRetire

        message = AgentRetire(agent_id=agent_id, by=principal.name[:128], reason=reason, timestamp=self._clock())
        told = self._orders.give(agent.site_id, retire_key(agent_id), SiteDown.RETIRE, message)
        return dataclasses.replace(self._retire(agent), lms_told=told)

    def retired_at_site(self, site_id: str, message: AgentsRetired) -> SiteRetirements:
        """The site's LMS retired these agents: its orders for them are done, and the cloud's records of the site's
        agents among them are cleaned. An agent of another site is left alone (refused); an unknown one (retired
        in the cloud already) is nothing to do."""
        cleaned: list[str] = []
        refused: list[str] = []
        for entry in message.agents:
            agent = self._agents.get(entry.agent_id)
            if agent is not None and agent.site_id != site_id:
                refused.append(entry.agent_id)
                continue
            self._orders.done(site_id, retire_key(entry.agent_id))
            if agent is not None:
                self._retire(agent)
                cleaned.append(entry.agent_id)
        if refused:
            log.warning("site %s reported agents of other sites retired, left alone: %s", site_id, ", ".join(refused))
        return SiteRetirements(tuple(cleaned), tuple(refused))

    def _retire(self, agent: Agent) -> RetiredAgent:
        cleaned = self._clean_shadows(agent.site_id, agent.agent_id)

        def attempt() -> None:
            current = self._agents.get(agent.agent_id)
            if current is not None and current.site_id == agent.site_id:
                self._agents.delete(current)

        retry_stale(attempt, UpstreamError(f"agent {agent.agent_id}: too many concurrent updates; retry"))
        self._sites.forget(agent.site_id, agents=True)  # its next full heartbeat reads its agents again
        log.info("agent %s of site %s retired (shadows %s)", agent.agent_id, agent.site_id, cleaned.how)
        return RetiredAgent(agent.agent_id, agent.site_id, cleaned)

    def _clean_shadows(self, site_id: str, agent_id: str) -> ShadowsCleaned:
        thing = site_thing_name(self._namespace, site_id)
        names = (agent_shadow_name(agent_id), cctv_shadow_name(agent_id))
        delete = getattr(self._shadows, "delete", None)
        if callable(delete):
            for name in names:
                delete(thing, name)
            return ShadowsCleaned(names, "deleted")
        for name in names:  # a store that cannot delete a shadow (yet): clear what it holds
            document = self._shadows.get(thing, name)
            state = document.get("state") if document is not None else None
            if isinstance(state, dict):
                cleared = {section: dict.fromkeys(values) for section in ("desired", "reported")
                           if isinstance(values := state.get(section), dict) and values}  # fmt: skip
                if cleared:  # a key set to null is deleted
                    self._shadows.update(thing, name, json.dumps({"state": cleared}).encode())
        return ShadowsCleaned(names, "cleared")

    # ------------------------------------------------------------ sites

    def retire_site(self, site_id: str, principal: Principal) -> RetiredSite:
        """Retire a site the caller may see (see the module docstring). A site retired already is a 404."""
        site = visible_site(self._sites, site_id, principal)
        if site.retired_at is not None:
            raise NotFound(f"site {site_id} is retired already", code=ErrorCode.UNKNOWN_SITE)
        now = self._clock()

        def attempt() -> Site:
            current = visible_site(self._sites, site_id)
            return self._sites.save(dataclasses.replace(
                current, retired_at=now, approval=Approval.REJECTED, api_key_hash=None, thing_name=None,
                certificate_id=None, certificate_arn=None, agent_count=0, online_count=0,
            ))  # fmt: skip

        # the site is refused first, so a heartbeat arriving meanwhile cannot bring back an agent retired below
        stored = retry_stale(attempt, UpstreamError(f"site {site_id}: too many concurrent updates; retry"))
        retired = tuple(self._retire(agent).agent_id for agent in self._agents.list_by_site(site_id))
        revoked = site.thing_name is not None and site.certificate_id is not None
        if site.thing_name is not None:
            self._issuer.revoke(site.thing_name, site.certificate_id, site.certificate_arn,
                                self._settings.iot_site_policy)  # fmt: skip
        if site.api_key_hash is not None:
            self._secrets.delete(site.api_key_hash)
        for order in self._orders.of_site(site_id):  # nothing will reach its LMS any more
            self._orders.done(site_id, order.order_key)
        log.info("site %s retired: %d agents, certificate %s", site_id, len(retired),
                 "revoked" if revoked else "none")  # fmt: skip
        return RetiredSite(stored, retired, revoked)
