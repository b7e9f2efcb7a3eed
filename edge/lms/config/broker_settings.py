"""``[site_broker]``: the LMS's connection to the site's Mosquitto, and ``[site_broker.dynsec]``, the dynamic-security
admin with which the LMS issues agents' broker credentials. The passwords come from the environment or a file
(:mod:`edge.lms.config.loader`), never from the file itself."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from shared.mqtt import MqttSettings, is_loopback

PASSWORD_ENV = "CLASSTOP_LMS_BROKER_PASSWORD"
DYNSEC_PASSWORD_ENV = "CLASSTOP_LMS_DYNSEC_PASSWORD"
#: how long the site broker keeps the LMS's session while the LMS is down (a day: an LMS crashed overnight still gets
#: what agents sent; the broker bounds the queue itself, ``max_queued_messages``)
SITE_SESSION_EXPIRY_S = 86400
BROKER_PLAIN_PORT, BROKER_TLS_PORT = 1883, 8883


class DynsecSettings(BaseModel):
    """``[site_broker.dynsec]``: the broker runs the dynamic-security plugin and the LMS issues agents' credentials.

    Without this section the broker authenticates from its password file (agents' passwords provisioned
    by hand) and enrolment is off.
    """

    model_config = ConfigDict(extra="forbid")

    username: str = Field(default="dynsec-admin", min_length=1, max_length=128, description="the plugin's admin user")
    password_file: Path | None = Field(
        default=None, description=f"file holding the admin password (the {DYNSEC_PASSWORD_ENV} variable wins)"
    )
    password: SecretStr | None = Field(default=None, description="filled from the variable or password_file")
    client_id: str = Field(default="lms-dynsec", min_length=1, max_length=128, description="admin MQTT client id")
    timeout_s: float = Field(default=5.0, gt=0, le=60, description="wait this long for the plugin's answer")
    advertise_host: str | None = Field(
        default=None, max_length=255, description="broker host given to enrolling agents (default: site_broker.host)"
    )
    advertise_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="broker port given to enrolling agents (default: site_broker.port when the LMS itself uses "
        "TLS, else 8883, the broker's TLS listener)",
    )
    advertise_tls: bool = Field(
        default=True,
        description="agents connect with TLS, pinned to the site CA; false only for a loopback advertise_host",
    )
    state_file: Path | None = Field(
        default=None,
        description="the broker's dynamic-security JSON (its plugin_opt_config_file), when this LMS can read it: "
        "`backup` includes it and `restore` puts it back (agents keep their broker credentials); unset, the "
        "technician backs up the broker's data separately (docs/operations.md)",
    )


class SiteBrokerSettings(MqttSettings):
    """Connection to the site's Mosquitto broker (the ``shared.mqtt`` settings plus a password file)."""

    client_id: str = Field(default="lms", min_length=1, max_length=128, description="MQTT client id")
    session_expiry_s: int = Field(
        default=SITE_SESSION_EXPIRY_S, ge=0, le=4_294_967_295,
        description="the broker keeps the LMS's session (its subscriptions and the QoS 1 messages agents send: "
        "responses, progress, events, presence) this long while the LMS is down, and hands them over when it "
        "comes back; 0: a clean session (what agents send while the LMS is down is lost)",
    )  # fmt: skip
    username: str | None = Field(default="lms", max_length=128, description="the LMS's broker user")
    password_file: Path | None = Field(
        default=None, description=f"file holding the broker password (the {PASSWORD_ENV} variable wins)"
    )
    dynsec: DynsecSettings | None = Field(
        default=None, description="dynamic-security admin: the LMS issues agents' broker credentials (enrolment)"
    )

    @model_validator(mode="after")
    def _no_password_in_clear_on_the_lan(self) -> Self:
        if self.tls is None and not is_loopback(self.host):
            raise ValueError(
                f"plain MQTT to {self.host} would send the LMS's broker password across the LAN in clear: add "
                "[site_broker.tls] (the site CA by default) and the broker's TLS port, or use a loopback host"
            )
        if self.dynsec is not None and not self.dynsec.advertise_tls:
            host = self.dynsec.advertise_host or self.host
            if not is_loopback(host):
                raise ValueError(
                    f"site_broker.dynsec.advertise_tls = false would give agents plain MQTT to {host}: agents on "
                    "the LAN connect with TLS (keep advertise_tls = true)"
                )
        return self

    def advertised(self) -> tuple[str, int, bool]:
        """(host, port, tls) given to enrolling agents (see :class:`DynsecSettings`)."""
        assert self.dynsec is not None
        dynsec = self.dynsec
        port = dynsec.advertise_port
        if port is None:
            same_kind = (self.tls is not None) == dynsec.advertise_tls  # the LMS's own port serves what agents get
            port = self.port if same_kind else (BROKER_TLS_PORT if dynsec.advertise_tls else BROKER_PLAIN_PORT)
        return dynsec.advertise_host or self.host, port, dynsec.advertise_tls

    def dynsec_admin(self) -> MqttSettings:
        """The MQTT settings of the dynamic-security admin connection (same broker, admin credentials)."""
        assert self.dynsec is not None
        base = MqttSettings.model_fields.keys()
        data = {k: v for k, v in self.model_dump().items() if k in base}
        data.update(client_id=self.dynsec.client_id, username=self.dynsec.username, password=self.dynsec.password,
                    session_expiry_s=0)  # request/response: nothing to keep while away
        return MqttSettings.model_validate(data)
