"""Sites: ``SiteModel`` items <-> :class:`Site`."""

from __future__ import annotations

from chalicelib.domain.approval import Approval
from chalicelib.domain.page import Page
from chalicelib.domain.site import Site
from chalicelib.errors import Conflict, StaleWrite
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
            name=site.name,
            host=site.host,
            port=site.port,
            lms_uuid=site.lms_uuid,
            approval=site.approval.value,
            registered_at=site.registered_at,
            api_key_hash=site.api_key_hash,
            thing_name=site.thing_name,
            certificate_id=site.certificate_id,
            certificate_arn=site.certificate_arn,
        )
        if site.revision is not None:
            item.revision = site.revision
        try:
            with dynamo_errors(f"write site {site.site_id}"):
                item.save()
        except StaleWrite:
            if site.revision is None:
                raise Conflict(f"site {site.site_id} already exists") from None
            raise
        return _to_site(item)

    def delete(self, site: Site) -> None:
        """Delete ``site`` if nobody wrote it since it was read (else :class:`StaleWrite`)."""
        item = SiteModel(site.site_id)
        item.revision = site.revision
        with dynamo_errors(f"delete site {site.site_id}"):
            item.delete()


def _to_site(item: SiteModel) -> Site:
    return Site(
        site_id=item.site_id,
        last_heartbeat=float(item.last_heartbeat),
        lms_version=item.lms_version,
        agent_count=int(item.agent_count),
        online_count=int(item.online_count),
        name=item.name,
        host=item.host,
        port=None if item.port is None else int(item.port),
        lms_uuid=item.lms_uuid,
        approval=Approval(item.approval or Approval.APPROVED.value),
        registered_at=None if item.registered_at is None else float(item.registered_at),
        api_key_hash=item.api_key_hash,
        thing_name=item.thing_name,
        certificate_id=item.certificate_id,
        certificate_arn=item.certificate_arn,
        revision=item.revision,
    )
