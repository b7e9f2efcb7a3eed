"""Software versions across the tenant: which sites (LMSs) and agents run something other than the newest version
the cloud has seen (docs/api.md, ``GET /api/versions``).

"Newest" is the greatest version reported by any LMS (for sites) or any agent (for agents) of the tenant, compared by
their numeric release (:func:`version_key`). The lists are filtered to the sites the
caller may see; the newest versions are the tenant's, so a site-scoped operator sees that their sites are behind.
ClassTop desktop clients (kind ``legacy``) have their own versions and are left out; so are agents that reported no
version.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from chalicelib.domain.agent import Agent
from chalicelib.domain.page import Page
from chalicelib.domain.site import Site
from chalicelib.domain.token import Principal
from chalicelib.repositories.agent import AgentRepository
from chalicelib.repositories.site import SiteRepository
from shared.messages import AgentKind

_PAGE = 500
T = TypeVar("T")
_RELEASE = re.compile(r"\d+(?:\.\d+)*")


def version_key(text: str) -> tuple[tuple[int, ...], int, str]:
    """A sort key: the numeric release (``1.10.2`` after ``1.9``), a release after its pre-releases (anything
    following the numbers: ``1.2.0rc1`` before ``1.2.0``), then the text."""
    match = _RELEASE.match(text.strip())
    release = tuple(int(part) for part in match.group(0).split(".")) if match else ()
    rest = text.strip()[match.end():] if match else text
    return release, 0 if rest else 1, rest


def newest(versions: list[str]) -> str | None:
    return max(versions, key=version_key, default=None)


@dataclass(frozen=True, slots=True)
class VersionReport:
    newest_lms: str | None
    newest_agent: str | None
    sites: list[Site]
    agents: list[Agent]

    def to_dict(self) -> dict[str, Any]:
        return {
            "newest": {"lms": self.newest_lms, "agent": self.newest_agent},
            "sites": [{"site_id": s.site_id, "lms_version": s.lms_version, "lms_config_version": s.lms_config_version,
                       "last_heartbeat": s.last_heartbeat} for s in self.sites],
            "agents": [{"agent_id": a.agent_id, "site_id": a.site_id, "version": a.version,
                        "config_version": a.config_version, "status": a.status.value} for a in self.agents],
        }  # fmt: skip


class VersionService:
    def __init__(self, sites: SiteRepository, agents: AgentRepository) -> None:
        self._sites = sites
        self._agents = agents

    def outdated(self, principal: Principal) -> VersionReport:
        sites = [s for s in self._all_sites() if s.lms_version]
        agents = [a for a in self._all_agents() if a.kind is AgentKind.AGENT and a.version]
        newest_lms = newest([s.lms_version for s in sites])
        newest_agent = newest([a.version for a in agents if a.version])
        return VersionReport(
            newest_lms, newest_agent,
            [s for s in sites if s.lms_version != newest_lms and principal.can_see_site(s.site_id)],
            [a for a in agents if a.version != newest_agent and principal.can_see_site(a.site_id)],
        )  # fmt: skip

    def _all_sites(self) -> list[Site]:
        return _every(self._sites.page)

    def _all_agents(self) -> list[Agent]:
        return _every(self._agents.page)


def _every(page: Callable[..., Page[T]]) -> list[T]:
    """Every item of a paged listing, ``_PAGE`` at a time."""
    out: list[T] = []
    cursor: str | None = None
    while True:
        result = page(limit=_PAGE, cursor=cursor)
        out += result.items
        cursor = result.cursor
        if cursor is None:
            return out
