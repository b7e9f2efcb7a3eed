"""``[console]``: the site console's sign-in (how long sessions last, how hard guessing passwords is) and the
notice shown before watching cameras."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ConsoleSettings(BaseModel):
    """``[console]``: sessions and sign-in limits of the console's local accounts (docs/console.md)."""

    model_config = ConfigDict(extra="forbid")

    session_idle_s: float = Field(
        default=8 * 3600.0, ge=300, le=7 * 86400, description="a session ends after this long without a request"
    )
    session_max_age_s: float = Field(
        default=24 * 3600.0, ge=600, le=30 * 86400, description="a session ends this long after sign-in, whatever"
    )
    lockout_failures: int = Field(
        default=5, ge=3, le=100, description="wrong passwords in a row that lock an account (per user name)"
    )
    lockout_s: float = Field(default=900.0, ge=60, le=86400, description="how long a lock-out lasts")
    sign_ins_per_minute: int = Field(
        default=20, ge=1, le=10_000, description="sign-in attempts per source address per minute"
    )
    camera_notice: str = Field(
        default="", max_length=2000,
        description="shown on the cameras page before anyone watches (e.g. the school's CCTV policy); empty: none",
    )
