"""Where alerts are sent (docs/api.md#alert-channels; docs/alerts.md#notifications): ``GET/POST
/api/alert-channels``, ``DELETE /api/alert-channels/{channel_id}``, ``POST …/{channel_id}/test``, the dead-letter
list ``GET /api/alert-channels/dead-letters`` and ``POST /api/alert-channels/dead-letters/{delivery_id}/retry``.
Channels are the tenant's: admin, every site."""

from __future__ import annotations

import re
from typing import Any, Literal

from chalice.app import Response
from pydantic import Field, model_validator

from chalicelib import container
from chalicelib.api.http import RequestBody, ok
from chalicelib.api.routes import Access, Call, Router, Scope
from chalicelib.domain.alert import ChannelKind, QuietHours
from chalicelib.domain.user import EMAIL_PATTERN
from shared.webhook_signature import MIN_SECRET_BYTES

api = Router(__name__, tag="alert-channels")

_HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
_EMAIL = EMAIL_PATTERN  # ASCII, as an account's (the local part's "not a space" differs between regex dialects)
_PHONE = r"^\+[1-9][0-9]{6,14}$"
#: a webhook's URL as its shape goes: https, a host without user info, no fragment, no spaces (where the host points
#: is checked when the channel is added: a 400 for a private address)
_WEBHOOK = r"^https://[^\s/?#@]+([/?][^\s#]*)?$"
_PATTERNS = {"email": _EMAIL, "sms": _PHONE, "webhook": _WEBHOOK}


class QuietHoursBody(RequestBody):
    start: str = Field(pattern=_HHMM, description="HH:MM, local time")
    end: str = Field(pattern=_HHMM, description="HH:MM, local time (before start: spans midnight)")
    timezone: str = Field(default="UTC", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_+/-]+$",
                          description="an IANA time zone, e.g. Europe/London")


class ChannelBody(RequestBody):
    """``POST /api/alert-channels``: an e-mail address, a phone number (E.164, SMS) or an https webhook URL."""

    kind: Literal["email", "sms", "webhook"]
    address: str = Field(min_length=3, max_length=2048, description="the address, the number or the URL")
    min_severity: Literal["info", "warning", "error", "critical"] = "warning"
    quiet_hours: QuietHoursBody | None = None
    digest: bool = Field(default=False, description="a daily digest instead of immediate non-critical alerts")
    secret: str | None = Field(default=None, min_length=MIN_SECRET_BYTES, max_length=256,
                               description="a webhook's signing secret (made if not given; answered once)")

    @classmethod
    def openapi_extra(cls) -> dict[str, Any]:
        """Each kind's address (and only a webhook's secret), as the validator below checks them."""
        return {"oneOf": [
            {"properties": {"kind": {"const": "email"}, "address": {"pattern": _EMAIL}, "secret": {"type": "null"}}},
            {"properties": {"kind": {"const": "sms"}, "address": {"pattern": _PHONE}, "secret": {"type": "null"}}},
            {"properties": {"kind": {"const": "webhook"}, "address": {"pattern": _WEBHOOK}}},
        ]}

    @model_validator(mode="after")
    def _address(self) -> ChannelBody:
        if not re.match(_PATTERNS[self.kind], self.address):
            what = {"email": "an e-mail address", "sms": "an E.164 number", "webhook": "an https URL"}[self.kind]
            raise ValueError(f"address: not {what}")
        if self.kind != "webhook" and self.secret is not None:
            raise ValueError("secret: only a webhook takes a secret")
        return self


class EmptyBody(RequestBody):
    """(optional, empty)"""


@api.route("GET", "/api/alert-channels", Access.ADMIN, Scope.TENANT, "The tenant's alert channels")
def list_channels(call: Call[None]) -> Response:
    channels = container.get().notifier.channels()
    return ok({"channels": [c.to_dict() for c in channels], "count": len(channels)})


@api.route("POST", "/api/alert-channels", Access.ADMIN, Scope.TENANT,
           "Add an alert channel: e-mail or SMS (subscribed to the tenant's alerts topic) or an https webhook",
           body=ChannelBody, responses={"201": "the channel (a webhook's secret is shown this once)"},
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
           "Send a test notification to a channel now", body=EmptyBody, body_optional=True,
           audit="alert_channel.test")
def test_channel(call: Call[EmptyBody], channel_id: str) -> Response:
    return ok(container.get().notifier.test(channel_id))


@api.route("GET", "/api/alert-channels/dead-letters", Access.ADMIN, Scope.TENANT,
           "Webhook deliveries that failed every retry")
def dead_letters(call: Call[None]) -> Response:
    dead = container.get().notifier.dead_letters()
    return ok({"deliveries": [d.to_dict() for d in dead], "count": len(dead)})


@api.route("POST", "/api/alert-channels/dead-letters/{delivery_id}/retry", Access.ADMIN, Scope.TENANT,
           "Retry a dead-lettered webhook delivery now", body=EmptyBody, body_optional=True,
           audit="alert_channel.retry")
def retry_delivery(call: Call[EmptyBody], delivery_id: str) -> Response:
    return ok(container.get().notifier.retry(delivery_id))
