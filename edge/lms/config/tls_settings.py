"""TLS on the school LAN: ``[site_tls]`` (the site CA and the server certificates it signs) and
``[classtop_plain_http]`` (the explicit opt-in plain-HTTP listener for ClassTop clients that cannot do TLS)."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DNS_NAME_RE = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*\.?$")


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class SiteTlsSettings(BaseModel):
    """``[site_tls]``: the site CA (made at the first start) and the server certificates it signs.

    The CA's key stays in ``dir`` (0600). The LMS's HTTPS certificate lives there too; the broker's
    certificate, key and the CA certificate are written to ``broker_dir`` for Mosquitto. Both carry the
    site's names: ``hosts`` plus localhost, 127.0.0.1, ::1, this machine's host name, ``site_broker.host``,
    ``site_broker.dynsec.advertise_host`` and ``http_host`` (unless it is a wildcard).
    """

    model_config = ConfigDict(extra="forbid")

    dir: Path | None = Field(
        default=None, description="the CA and the LMS's certificate (default: site-ca/ beside db_path)"
    )
    broker_dir: Path | None = Field(
        default=None, description="the broker's certificate, key and the CA certificate (default: <dir>/broker)"
    )
    hosts: list[str] = Field(
        default_factory=list, max_length=64, description="LAN names and addresses agents and browsers use"
    )
    cert_days: int = Field(default=397, ge=2, le=825, description="server certificates are valid this long")
    renew_before_days: int = Field(default=30, ge=1, le=365, description="renew a server certificate this early")
    warn_before_days: int = Field(
        default=30, ge=1, le=365,
        description="warn (log, event, health) this long before the site CA, a server or the cloud certificate ends",
    )
    check_interval_s: float = Field(
        default=43200.0, ge=60, le=7 * 86400, description="how often a running LMS checks its certificates"
    )
    broker_key_mode: int = Field(
        default=0o640,
        ge=0o400,
        le=0o640,
        description="mode of the broker's key file (group-readable so a `mosquitto` group can read it)",
    )

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, hosts: list[str]) -> list[str]:
        for host in hosts:
            if not (_is_ip(host) or (len(host) <= 253 and _DNS_NAME_RE.match(host))):
                raise ValueError(f"site_tls.hosts: {host!r} is not a host name or an IP address")
        return hosts

    @model_validator(mode="after")
    def _renew_in_time(self) -> Self:
        if self.renew_before_days >= self.cert_days:
            raise ValueError("site_tls.renew_before_days must be shorter than cert_days")
        return self


class PlainHttpSettings(BaseModel):
    """``[classtop_plain_http]``: an explicit opt-in plain-HTTP listener for ClassTop clients that cannot do TLS.

    It serves the ClassTop clients' paths only (health, register, sync, courses, schedule, ``/ws/{uuid}``):
    their timetables and remote commands travel in clear; tokens, enrolment and the console stay on the
    HTTPS port. The LMS logs a warning at every start.
    """

    model_config = ConfigDict(extra="forbid")

    host: str = Field(min_length=1, max_length=255, description="address to listen on (e.g. 0.0.0.0)")
    port: int = Field(ge=1, le=65535, description="its port (not http_port)")
