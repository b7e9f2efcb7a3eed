"""``[alerts]``: the site's alerting (docs/alerts.md#on-the-lms): the webhook secret, the local/dev opt-in for a
plain-HTTP loopback webhook, and how long alert history is kept. Rules, silences, maintenance windows and the
webhook's address are set through the API (they are data, not configuration)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

#: The environment variable holding the site webhook's secret when ``webhook_secret_file`` is not set.
WEBHOOK_SECRET_ENV = "CLASSTOP_LMS_ALERT_WEBHOOK_SECRET"


class AlertSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="evaluate alert rules on this LMS")
    webhook_secret_file: Path | None = Field(
        default=None,
        description=f"file holding the site webhook's HMAC secret (>= 16 bytes); else ${WEBHOOK_SECRET_ENV}",
    )
    local_dev_http_webhook: bool = Field(
        default=False,
        description="local/dev mode: also accept a plain http:// webhook on a loopback address (never in production)",
    )
    history_days: float = Field(default=30.0, ge=1, le=3650, description="resolved alerts kept this many days")
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=60, description="one webhook delivery's HTTP timeout")
    webhook_max_attempts: int = Field(
        default=8, ge=1, le=50,
        description="delivery attempts (backoff 2 s doubling, at most 10 min) before the dead-letter",
    )
