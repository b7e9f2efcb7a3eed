"""Where alerts are sent (docs/api.md#alert-channels; docs/alerts.md#notifications): ``GET/POST
/api/alert-channels``, ``DELETE /api/alert-channels/{channel_id}``, ``POST …/{channel_id}/test``, the dead-letter
list ``GET /api/alert-channels/dead-letters`` and ``POST /api/alert-channels/dead-letters/{delivery_id}/retry``.
Channels are the tenant's: admin, every site."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice.app import Response

from chalicelib import container
from chalicelib.api.http import ok
from chalicelib.api.routes import Access, Call, Router, Scope
from chalicelib.domain.alert import ChannelKind, QuietHours

if TYPE_CHECKING:
    from chalicelib.api.bodies.alert_channels import ChannelBody, EmptyBody

api = Router(__name__, tag="alert-channels")

@api.route("GET", "/api/alert-channels", Access.ADMIN, Scope.TENANT, "The tenant's alert channels")
def list_channels(call: Call[None]) -> Response:
    channels = container.get().notifier.channels()
    return ok({"channels": [c.to_dict() for c in channels], "count": len(channels)})


@api.route("POST", "/api/alert-channels", Access.ADMIN, Scope.TENANT,
           "Add an alert channel: e-mail or SMS (subscribed to the tenant's alerts topic) or an https webhook",
           body="ChannelBody", responses={"201": "the channel (a webhook's secret is shown this once)"},
           audit="alert_channel.add")
def add_channel(call: Call[ChannelBody]) -> Response:
    body = call.body
    quiet = None if body.quiet_hours is None else QuietHours(body.quiet_hours.start, body.quiet_hours.end,
                                                             body.quiet_hours.timezone)
    channel, secret = container.get().notifier.add_channel(ChannelKind(body.kind), body.address,
                                                           min_severity=body.min_severity, quiet_hours=quiet,
                                                           digest=body.digest, secret=body.secret)  # fmt: skip
    return ok({**channel.to_dict(), **({"secret": secret} if secret else {})}, 201)


@api.route("DELETE", "/api/alert-channels/{channel_id}", Access.ADMIN, Scope.TENANT,
           "Remove an alert channel (and its SNS subscription)", audit="alert_channel.remove")
def remove_channel(call: Call[None], channel_id: str) -> Response:
    container.get().notifier.remove_channel(channel_id)
    return ok({"channel_id": channel_id, "removed": True})


@api.route("POST", "/api/alert-channels/{channel_id}/test", Access.ADMIN, Scope.TENANT,
           "Send a test notification to a channel now", body="EmptyBody", body_optional=True,
           audit="alert_channel.test")
def test_channel(call: Call[EmptyBody], channel_id: str) -> Response:
    return ok(container.get().notifier.test(channel_id))


@api.route("GET", "/api/alert-channels/dead-letters", Access.ADMIN, Scope.TENANT,
           "Webhook deliveries that failed every retry")
def dead_letters(call: Call[None]) -> Response:
    dead = container.get().notifier.dead_letters()
    return ok({"deliveries": [d.to_dict() for d in dead], "count": len(dead)})


@api.route("POST", "/api/alert-channels/dead-letters/{delivery_id}/retry", Access.ADMIN, Scope.TENANT,
           "Retry a dead-lettered webhook delivery now", body="EmptyBody", body_optional=True,
           audit="alert_channel.retry")
def retry_delivery(call: Call[EmptyBody], delivery_id: str) -> Response:
    return ok(container.get().notifier.retry(delivery_id))
