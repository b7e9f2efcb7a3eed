"""Sites: ``SiteModel`` items <-> :class:`Site`."""

from __future__ import annotations

from chalicelib.domain.page import Page
from chalicelib.domain.site import Site
from chalicelib.models.site import SiteModel
from chalicelib.repositories.dynamo import check_limit, decode_cursor, dynamo_errors, encode_cursor

_TENANT_KEYS = frozenset({"site_id", "tenant"})


class SiteRepository:
    def __init__(self, tenant: str) -> None:
        self._tenant = tenant

    def get(self, site_id: str) -> Site | None:
        with dynamo_errors(f"read site {site_id}"):
            try:
                return _to_site(SiteModel.get(site_id))
            except SiteModel.DoesNotExist:
                return None

    def page(self, *, limit: int = 100, cursor: str | None = None) -> Page[Site]:
        check_limit(limit)
        with dynamo_errors("list sites"):
            result = SiteModel.by_tenant.query(
                self._tenant, limit=limit, last_evaluated_key=decode_cursor(cursor, _TENANT_KEYS)
            )
            items = [_to_site(item) for item in result]
            return Page(items, encode_cursor(result.last_evaluated_key) if len(items) == limit else None)

    def save(self, site: Site) -> Site:
        """Write ``site`` if its stored revision is still ``site.revision`` (else :class:`StaleWrite`)."""
        item = SiteModel(
            site.site_id,
            tenant=self._tenant,
            last_heartbeat=site.last_heartbeat,
            lms_version=site.lms_version,
            agent_count=site.agent_count,
            online_count=site.online_count,
        )
        if site.revision is not None:
            item.revision = site.revision
        with dynamo_errors(f"write site {site.site_id}"):
            item.save()
        return _to_site(item)


def _to_site(item: SiteModel) -> Site:
    return Site(
        site_id=item.site_id,
        last_heartbeat=float(item.last_heartbeat),
        lms_version=item.lms_version,
        agent_count=int(item.agent_count),
        online_count=int(item.online_count),
        revision=item.revision,
    )
