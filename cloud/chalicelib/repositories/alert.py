"""Alert episodes (``AlertModel``) <-> :class:`Alert`: a record applied only over a lower ``seq``, a site's open
alerts from the sparse index, listings newest first."""

from __future__ import annotations

import contextlib

import msgspec
from pynamodb.expressions.update import Action

from chalicelib.domain.alert import Alert, AlertFilter, AlertOrigin
from chalicelib.domain.page import Page, check_limit
from chalicelib.errors import StaleWrite
from chalicelib.models.alert import AlertModel
from chalicelib.repositories.base import (
    TenantRepository,
    decode_cursor,
    dynamo_errors,
    encode_cursor,
    expiry,
    read_item,
    sort_key,
)
from shared.messages.enums import AlertState
from shared.messages.structs import AlertRecord

_SITE_KEYS = frozenset({"alert_id", "site_id", "opened"})
_TENANT_KEYS = frozenset({"alert_id", "tenant", "opened"})
#: open alerts of one site read at most by the schedule (one rule per target is open at a time)
MAX_OPEN = 1000


class AlertRepository(TenantRepository):
    def __init__(self, tenant: str, retention_s: float) -> None:
        super().__init__(tenant)
        self._retention_s = retention_s

    def get(self, alert_id: str) -> Alert | None:
        item = read_item(AlertModel, alert_id, what=f"read alert {alert_id}", consistent=True)
        return None if item is None else _to_alert(item)

    def apply(self, site_id: str, record: AlertRecord, origin: AlertOrigin) -> bool:
        """Store ``record`` unless the stored alert holds the same or a higher ``seq`` (or belongs to another site);
        ``True`` if it was stored. The cloud's acknowledgement beside it is kept."""
        resolved = record.state is AlertState.RESOLVED
        actions: list[Action] = [
            AlertModel.tenant.set(self._tenant), AlertModel.site_id.set(site_id),
            AlertModel.opened.set(sort_key(record.opened_at, record.alert_id)), AlertModel.seq.set(record.seq),
            AlertModel.origin.set(origin.value), AlertModel.data.set(msgspec.json.encode(record).decode()),
            AlertModel.open_site.remove() if resolved else AlertModel.open_site.set(site_id),
        ]
        if resolved:
            actions.append(AlertModel.ttl.set(expiry((record.resolved_at or record.changed_at) + self._retention_s)))
        condition = AlertModel.alert_id.does_not_exist() | (
            (AlertModel.seq < record.seq) & (AlertModel.site_id == site_id))
        with contextlib.suppress(StaleWrite), dynamo_errors(f"store alert {record.alert_id}"):
            AlertModel(record.alert_id).update(actions=actions, condition=condition)
            return True
        return False

    def acknowledge(self, alert_id: str, by: str, at: float) -> None:
        with dynamo_errors(f"acknowledge alert {alert_id}"):
            AlertModel(alert_id).update(actions=[AlertModel.acked_by.set(by), AlertModel.acked_at.set(at)],
                                        condition=AlertModel.alert_id.exists())

    def set_resolved_by(self, alert_id: str, by: str) -> None:
        with dynamo_errors(f"mark alert {alert_id} resolved"):
            AlertModel(alert_id).update(actions=[AlertModel.resolved_by.set(by)],
                                        condition=AlertModel.alert_id.exists())

    def open_of_site(self, site_id: str) -> list[Alert]:
        with dynamo_errors(f"read the open alerts of site {site_id}"):
            return [_to_alert(i) for i in AlertModel.by_open_site.query(site_id, limit=MAX_OPEN)]

    def page(self, filters: AlertFilter, *, limit: int, cursor: str | None) -> Page[Alert]:
        """Newest first, of one site (``filters.site_id``) or of the tenant; the other filters apply to the page
        read (a page may hold fewer than ``limit``: follow the cursor while there is one)."""

        def keep(item: AlertModel) -> Alert | None:
            alert = _to_alert(item)
            record = alert.record
            wanted = ((filters.state is None or alert.state is filters.state)
                      and (filters.severity is None or record.severity.value == filters.severity)
                      and (filters.rule_id is None or record.rule_id == filters.rule_id)
                      and (filters.agent_id is None or record.target.agent_id == filters.agent_id))
            return alert if wanted else None

        check_limit(limit)
        with dynamo_errors("list alerts"):
            if filters.site_id is not None:
                result = AlertModel.by_site.query(filters.site_id, scan_index_forward=False, limit=limit,
                                                  last_evaluated_key=decode_cursor(cursor, _SITE_KEYS))
            else:
                result = AlertModel.by_tenant.query(self._tenant, scan_index_forward=False, limit=limit,
                                                    last_evaluated_key=decode_cursor(cursor, _TENANT_KEYS))
            items = [kept for kept in map(keep, result) if kept is not None]
            # filtered pages may be short: the cursor goes on wherever DynamoDB stopped
            return Page(items, encode_cursor(result.last_evaluated_key))

    def since(self, at: float, limit: int = 1000) -> list[Alert]:
        """The tenant's alerts opened at or after ``at`` (the digest)."""
        with dynamo_errors("read the day's alerts"):
            return [_to_alert(i) for i in AlertModel.by_tenant.query(self._tenant, AlertModel.opened >= sort_key(at),
                                                                     limit=limit)]


def _to_alert(item: AlertModel) -> Alert:
    return Alert(site_id=item.site_id, record=msgspec.json.decode(item.data, type=AlertRecord),
                 origin=AlertOrigin(item.origin), acked_by=item.acked_by,
                 acked_at=None if item.acked_at is None else float(item.acked_at), resolved_by=item.resolved_by)
