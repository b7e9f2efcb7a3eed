"""Site orders (``SiteOrderModel``): saved, listed per site, marked sent, deleted once the LMS reported on them."""

from __future__ import annotations

import contextlib

from chalicelib.domain.site_order import SiteOrder
from chalicelib.errors import StaleWrite
from chalicelib.models.site_order import SiteOrderModel
from chalicelib.repositories.base import dynamo_errors, expiry

#: orders of one site read at a time (a site never has many waiting)
MAX_ORDERS = 500


class SiteOrderRepository:
    def save(self, order: SiteOrder) -> SiteOrder:
        item = SiteOrderModel(
            order.site_id, order.order_key, channel=order.channel, payload=order.payload,
            created_at=order.created_at, sent_at=order.sent_at, ttl=expiry(order.retain_until),
        )  # fmt: skip
        with dynamo_errors(f"store order {order.order_key} of site {order.site_id}"):
            item.save()
        return order

    def of_site(self, site_id: str) -> list[SiteOrder]:
        with dynamo_errors(f"read the orders of site {site_id}"):
            items = list(SiteOrderModel.query(site_id, consistent_read=True, limit=MAX_ORDERS))
        return [_order(item) for item in items]

    def mark_sent(self, site_id: str, order_key: str, at: float) -> None:
        """Record a publish of an order still there (one the LMS reported on meanwhile stays deleted)."""
        item = SiteOrderModel(site_id, order_key)
        with contextlib.suppress(StaleWrite), dynamo_errors(f"mark order {order_key} of site {site_id} sent"):
            item.update(actions=[SiteOrderModel.sent_at.set(at)], condition=SiteOrderModel.site_id.exists())

    def delete(self, site_id: str, order_key: str) -> None:
        with dynamo_errors(f"delete order {order_key} of site {site_id}"):
            SiteOrderModel(site_id, order_key).delete()


def _order(item: SiteOrderModel) -> SiteOrder:
    return SiteOrder(
        site_id=item.site_id, order_key=item.order_key, channel=item.channel, payload=item.payload,
        created_at=float(item.created_at), sent_at=float(item.sent_at or 0),
        retain_until=item.ttl.timestamp() if item.ttl is not None else 0.0,
    )  # fmt: skip
