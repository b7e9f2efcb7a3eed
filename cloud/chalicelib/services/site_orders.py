"""Orders to a site's LMS that wait for it: stored first, published, and published again after the site's full
heartbeats until the LMS reports on them (docs/protocol.md, "Orders that wait for an offline LMS").

IoT Core keeps QoS 1 messages for an offline LMS only while its persistent session lasts (an hour by default), and a
message published while no session exists is lost. So an order that must not be lost — an agent's retirement, an
upgrade campaign's start or cancel, an alert acknowledged in the cloud — is an item of ``…-site_order`` first, then
a publish. The LMS's reply travels through its outbox (``agents_retired``, ``upgrade_campaign_report``, the alert's
record on ``up/alerts``) and deletes the order
(:meth:`SiteOrders.done`). Until then every full heartbeat of the site (one follows each reconnection of its LMS)
publishes the orders last sent at least ``resend_after_s`` ago (``CLASSTOP_ORDER_RESEND_S``, default 60 s) again.
The LMS handles each order idempotently.

A heartbeat reads the site's orders only when the site's item does not say that a recent heartbeat found none
(``Site.orders_checked_at``, chalicelib.services.agents): :meth:`SiteOrders.give` stores the order **then** clears
that mark with a new revision of the site's item, so a heartbeat either read the item after the order was stored
(and its consistent read of the orders finds it) or cannot save its "none waiting" (its revision is stale).

A channel may register a *finisher* that completes the stored message at each publish (an upgrade start's presigned
package URL is minted fresh each time: a stored one would expire).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.iot import Publisher
from chalicelib.domain.site_order import SiteOrder
from chalicelib.errors import CloudError
from chalicelib.repositories.site import SiteRepository
from chalicelib.repositories.site_order import SiteOrderRepository
from shared.names import Namespace
from shared.topics import SiteDown, site_down

if TYPE_CHECKING:  # an order is built with pydantic (by the API); a rule function resends stored ones
    from pydantic import BaseModel

log = logging.getLogger(__name__)

RETIRE_PREFIX = "retire#"
UPGRADE_PREFIX = "upgrade#"
ACK_PREFIX = "ack#"

Finisher = Callable[[SiteOrder, dict[str, Any]], dict[str, Any]]


def retire_key(agent_id: str) -> str:
    return f"{RETIRE_PREFIX}{agent_id}"


def upgrade_key(campaign_id: str) -> str:
    return f"{UPGRADE_PREFIX}{campaign_id}"


def ack_key(alert_id: str) -> str:
    """An acknowledgement made in the cloud of one of the site's alerts (chalicelib.services.alerts)."""
    return f"{ACK_PREFIX}{alert_id}"


def retiring_agents(orders: Iterable[SiteOrder]) -> frozenset[str]:
    """The agents whose retirement the site has not reported yet (its heartbeats must not bring them back)."""
    return frozenset(o.order_key.removeprefix(RETIRE_PREFIX) for o in orders if o.order_key.startswith(RETIRE_PREFIX))


class SiteOrders:
    def __init__(self, orders: SiteOrderRepository, publisher: Publisher, namespace: Namespace, retention_s: float,
                 clock: Callable[[], float] = time.time, *, sites: SiteRepository,
                 resend_after_s: float = 60.0) -> None:  # fmt: skip
        """``sites``: where a site's "no order waiting" mark is cleared when an order is given."""
        self._orders = orders
        self._sites = sites
        self._resend_after_s = resend_after_s
        self._publisher = publisher
        self._namespace = namespace
        self._retention_s = retention_s
        self._clock = clock
        self._finishers: dict[str, Finisher] = {}

    def add_finisher(self, channel: SiteDown, finish: Finisher) -> None:
        """``finish(order, message)`` completes the stored message of ``channel`` at each publish."""
        self._finishers[SiteDown(channel).value] = finish

    def give(self, site_id: str, order_key: str, channel: SiteDown, message: BaseModel) -> bool:
        """Store the order (replacing one of the same key), then publish it. False: the publish failed; the order
        stays and goes out after the site's next full heartbeat."""
        from shared.messages import encode

        now = self._clock()
        order = SiteOrder(site_id, order_key, SiteDown(channel).value, encode(message).decode(), now, 0.0,
                          now + self._retention_s)  # fmt: skip
        self._orders.save(order)
        self._sites.forget(site_id, orders=True)  # after the save: see the module docstring
        return self._publish(order)

    def of_site(self, site_id: str) -> list[SiteOrder]:
        return self._orders.of_site(site_id)

    def resend(self, orders: Iterable[SiteOrder]) -> int:
        """Publish again the orders last sent at least ``resend_after_s`` ago; the number published."""
        now = self._clock()
        return sum(1 for order in orders if now - order.sent_at >= self._resend_after_s and self._publish(order))

    def done(self, site_id: str, order_key: str) -> None:
        """The LMS reported on the order: it is not sent again."""
        self._orders.delete(site_id, order_key)

    def _publish(self, order: SiteOrder) -> bool:
        message = json.loads(order.payload)
        finish = self._finishers.get(order.channel)
        try:
            if finish is not None:
                message = finish(order, message)
            topic = site_down(self._namespace, order.site_id, SiteDown(order.channel))
            self._publisher.publish(topic, json.dumps(message, separators=(",", ":")).encode(), qos=1)
        except CloudError as exc:
            log.warning("order %s to site %s not sent now (%s): it goes again after the site's next heartbeat",
                        order.order_key, order.site_id, exc.message)  # fmt: skip
            return False
        self._orders.mark_sent(order.site_id, order.order_key, self._clock())
        log.info("order %s sent to site %s", order.order_key, order.site_id)
        return True
