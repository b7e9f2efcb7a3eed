"""``[upgrades]`` of the LMS configuration: the release key, and how agents reach the package downloads."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.agent_packages import checked_public_key


class UpgradeSettings(BaseModel):
    """Agent upgrades from this LMS (absent: packages cannot be added and campaigns are refused)."""

    model_config = ConfigDict(extra="forbid")

    release_public_key: str = Field(min_length=40, max_length=64, description="Ed25519 release key, base64")
    package_base_url: str | None = Field(
        default=None, pattern=r"^https?://[^/?#]+$", max_length=300,
        description="the LMS's API as agents reach it (https://lms.school.lan:8443); default: http_host (or, on "
        "0.0.0.0, [site_broker.dynsec] advertise_host) and http_port",
    )  # fmt: skip
    ticket_ttl_s: float = Field(default=600.0, ge=10, le=86400, description="lifetime of a download ticket")
    rollback_s: float = Field(
        default=300.0, ge=5, le=3600, description="an agent rolls back unless its new version is online by then"
    )
    grace_s: float = Field(default=60.0, ge=0, le=3600, description="after rollback_s: wait this long for a verdict")

    @field_validator("release_public_key")
    @classmethod
    def _key(cls, value: str) -> str:
        return checked_public_key(value)
