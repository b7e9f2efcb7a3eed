"""Read side of the site registry (sites are written by heartbeats, see ``AgentService``, and by registration, see
``LmsService``), and the one rule of who may see a site."""

from __future__ import annotations

from chalicelib.domain.page import Page
from chalicelib.domain.site import Site
from chalicelib.domain.token import Principal
from chalicelib.errors import NotFound
from chalicelib.repositories.site import SiteRepository
from shared.errors import ErrorCode


def visible_site(sites: SiteRepository, site_id: str, principal: Principal | None = None) -> Site:
    """The site, if it exists and ``principal`` may see it (``None``: the cloud itself); else 404 — another site
    than a scoped token's is as unknown as one that does not exist."""
    site = sites.get(site_id) if principal is None or principal.can_see_site(site_id) else None
    if site is None:
        raise NotFound(f"unknown site {site_id}", code=ErrorCode.UNKNOWN_SITE)
    return site


class SiteService:
    def __init__(self, sites: SiteRepository) -> None:
        self._sites = sites

    def get(self, site_id: str, principal: Principal) -> Site:
        return visible_site(self._sites, site_id, principal)

    def page(self, principal: Principal, *, limit: int = 100, cursor: str | None = None) -> Page[Site]:
        page = self._sites.page(limit=limit, cursor=cursor)
        if principal.site_ids is None:
            return page
        return Page([s for s in page.items if principal.can_see_site(s.site_id)], page.cursor)
