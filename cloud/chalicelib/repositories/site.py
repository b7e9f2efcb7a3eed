"""Sites: ``SiteModel`` items <-> :class:`Site`."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from botocore.exceptions import ClientError
from pynamodb.exceptions import QueryError

from chalicelib.domain.approval import Approval
from chalicelib.domain.page import Page, check_limit
from chalicelib.domain.site import Site
from chalicelib.errors import Conflict, StaleWrite, UpstreamError
from chalicelib.models.site import SiteModel
from chalicelib.repositories.base import (
    StartKey,
    TenantRepository,
    decode_cursor,
    dynamo_errors,
    encode_cursor,
    read_item,
)
from chalicelib.repositories.change_mark import Area, bump
from chalicelib.repositories.site_summary import SiteSummaryRepository

log = logging.getLogger(__name__)

_TENANT_KEYS = frozenset({"site_id", "tenant"})
_INDEX_UNREADABLE = frozenset({"ValidationException", "ResourceNotFoundException"})


class SiteRepository(TenantRepository):
    def get(self, site_id: str) -> Site | None:
        item = read_item(SiteModel, site_id, what=f"read site {site_id}")
        return None if item is None else _to_site(item)

    def page(self, *, limit: int = 100, cursor: str | None = None) -> Page[Site]:
        """One page of the tenant's sites in ``site_id`` order, each read from its item: the index (keys only)
        gives the page's ids, one BatchGetItem (eventually consistent, like the index) the sites. A site deleted
        in between is left out; the cursor follows the index, so the next page starts after it all the same."""
        check_limit(limit)
        start = decode_cursor(cursor, _TENANT_KEYS)
        with dynamo_errors("list sites"):
            ids, last_key = self._ids(limit, start)
            found = {item.site_id: item for item in SiteModel.batch_get(ids)} if ids else {}
        return Page([_to_site(found[i]) for i in ids if i in found],
                    encode_cursor(last_key) if len(ids) == limit else None)

    def _ids(self, limit: int, start: StartKey) -> tuple[list[str], dict[str, Any] | None]:
        """A page of the index's site ids and the key after them. While the index is missing or backfilling (the
        release that made it: docs/deploy.md), the one it replaces gives them (their keys and cursors match)."""
        try:
            result = SiteModel.by_tenant_keys.query(self._tenant, limit=limit, last_evaluated_key=start)
            return [item.site_id for item in result], result.last_evaluated_key
        except QueryError as exc:
            # AWS: ValidationException (no such index, or backfilling); moto: ResourceNotFoundException
            if exc.cause_response_code not in _INDEX_UNREADABLE or not SiteModel.RETIRING_INDEXES:
                raise
        (index, (hash_key, range_key)), *_ = SiteModel.RETIRING_INDEXES.items()
        log.warning("list sites: index by_tenant_keys not readable yet, reading %s", index)
        client: Any = SiteModel._get_connection().connection.client  # botocore's, typed without its operations
        ids: list[str] = []
        while len(ids) < limit:
            try:
                answer = client.query(
                    TableName=SiteModel.Meta.table_name, IndexName=index, Limit=limit - len(ids),
                    KeyConditionExpression="#h = :h", ExpressionAttributeNames={"#h": hash_key, "#r": range_key},
                    ExpressionAttributeValues={":h": {"S": self._tenant}}, ProjectionExpression="#h, #r",
                    **({"ExclusiveStartKey": start} if start else {}),
                )
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code")
                raise UpstreamError(f"list sites: DynamoDB error {code}") from exc
            ids.extend(row[range_key]["S"] for row in answer.get("Items", []))
            start = answer.get("LastEvaluatedKey")
            if not start:
                break
        return ids, start

    def save(self, site: Site, *, mark: bool = True) -> Site:
        """Write ``site`` if its stored revision is still ``site.revision`` (else :class:`StaleWrite`). ``mark``:
        bump the sites' change mark (a heartbeat that only moves ``last_heartbeat`` does not: the routes showing
        it let their ETag age with the clock instead)."""
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
            lms_config_version=site.lms_config_version,
            certificates_expiring=site.certificates_expiring,
            retired_at=site.retired_at,
            link_state=site.link_state,
            link_changed_at=site.link_changed_at,
            link_reason=site.link_reason,
            link_version=site.link_version,
            agents_digest=site.agents_digest,
            orders_checked_at=site.orders_checked_at,
            full_period_s=site.full_period_s,
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
        if mark:
            bump(Area.SITES)
        if site.retired_at is not None:  # the overview lists it no more
            SiteSummaryRepository().remove(sites=[site.site_id])
        return _to_site(item)

    def forget(self, site_id: str, *, agents: bool = False, orders: bool = False) -> None:
        """Forget what the site's item says of its agents (``agents_digest``) or of its waiting orders
        (``orders_checked_at``), with a new revision, so that a heartbeat that read the item before cannot write it
        back: its next full heartbeat reads them again. One UpdateItem; nothing for an unknown site."""
        actions = [SiteModel.revision.add(1)]
        if agents:
            actions.append(SiteModel.agents_digest.remove())
        if orders:
            actions.append(SiteModel.orders_checked_at.remove())
        with contextlib.suppress(StaleWrite), dynamo_errors(f"update site {site_id}"):
            SiteModel._get_connection().update_item(site_id, actions=actions, condition=SiteModel.site_id.exists())

    def delete(self, site: Site) -> None:
        """Delete ``site`` if nobody wrote it since it was read (else :class:`StaleWrite`)."""
        item = SiteModel(site.site_id)
        item.revision = site.revision
        with dynamo_errors(f"delete site {site.site_id}"):
            item.delete()
        bump(Area.SITES)
        SiteSummaryRepository().remove(sites=[site.site_id])


def _to_site(item: SiteModel) -> Site:
    return Site(
        site_id=item.site_id,
        last_heartbeat=float(item.last_heartbeat),
        lms_version=item.lms_version,
        lms_config_version=item.lms_config_version,
        certificates_expiring=None if item.certificates_expiring is None
        else [str(name) for name in item.certificates_expiring],
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
        retired_at=None if item.retired_at is None else float(item.retired_at),
        link_state=item.link_state,
        link_changed_at=None if item.link_changed_at is None else float(item.link_changed_at),
        link_reason=item.link_reason,
        link_version=None if item.link_version is None else int(item.link_version),
        agents_digest=item.agents_digest,
        orders_checked_at=None if item.orders_checked_at is None else float(item.orders_checked_at),
        full_period_s=None if item.full_period_s is None else float(item.full_period_s),
        revision=item.revision,
    )
