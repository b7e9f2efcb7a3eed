"""The request bodies of the routes of ``chalicelib/api/alert_channels.py``: imported when one of them is first
called or the OpenAPI document is built (``api/routes.py``)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, model_validator

from chalicelib.api.bodies.request_body import RequestBody
from chalicelib.domain.user import EMAIL_PATTERN
from shared.webhook_signature import MIN_SECRET_BYTES

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
    timezone: str = Field(
        default="UTC",
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_+/-]+$",
        description="an IANA time zone, e.g. Europe/London",
    )


class ChannelBody(RequestBody):
    """``POST /api/alert-channels``: an e-mail address, a phone number (E.164, SMS) or an https webhook URL."""

    kind: Literal["email", "sms", "webhook"]
    address: str = Field(min_length=3, max_length=2048, description="the address, the number or the URL")
    min_severity: Literal["info", "warning", "error", "critical"] = "warning"
    quiet_hours: QuietHoursBody | None = None
    digest: bool = Field(default=False, description="a daily digest instead of immediate non-critical alerts")
    secret: str | None = Field(
        default=None,
        min_length=MIN_SECRET_BYTES,
        max_length=256,
        description="a webhook's signing secret (made if not given; answered once)",
    )

    @classmethod
    def openapi_extra(cls) -> dict[str, Any]:
        """Each kind's address (and only a webhook's secret), as the validator below checks them."""
        return {
            "oneOf": [
                {
                    "properties": {
                        "kind": {"const": "email"},
                        "address": {"pattern": _EMAIL},
                        "secret": {"type": "null"},
                    }
                },
                {"properties": {"kind": {"const": "sms"}, "address": {"pattern": _PHONE}, "secret": {"type": "null"}}},
                {"properties": {"kind": {"const": "webhook"}, "address": {"pattern": _WEBHOOK}}},
            ]
        }

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
