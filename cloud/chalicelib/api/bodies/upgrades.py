"""The request bodies of the routes of ``chalicelib/api/upgrades.py``: imported when one of them is first
called or the OpenAPI document is built (``api/routes.py``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from chalicelib.api.bodies.request_body import RequestBody
from chalicelib.domain.upgrade_campaign import MAX_SITES
from shared.agent_packages import SHA256_PATTERN, SIGNATURE_PATTERN, VERSION_PATTERN
from shared.topics import ID_PATTERN

AgentId = Annotated[str, Field(pattern=ID_PATTERN)]


class PackageBody(RequestBody):
    """``POST /api/upgrades/packages``: the version whose package is to be uploaded."""

    version: str = Field(pattern=VERSION_PATTERN, description="the release version, e.g. 1.2.3")


class CampaignBody(RequestBody):
    """``POST /api/upgrades/campaigns``: a published package, the sites (and optionally agents), the waves."""

    version: str = Field(pattern=VERSION_PATTERN, description="a published package's version")
    sha256: str = Field(pattern=SHA256_PATTERN, description="its sha256 (hex), as the release says")
    signature: str = Field(pattern=SIGNATURE_PATTERN, description="the release key's signature (base64)")
    site_ids: list[AgentId] = Field(min_length=1, max_length=MAX_SITES, description="the sites to upgrade")
    agent_ids: list[AgentId] | None = Field(default=None, min_length=1, max_length=5000,
                                            description="only these agents of the sites (default: all)")  # fmt: skip
    canary_percent: float = Field(default=10.0, gt=0, le=100, description="each site's first wave, in %")
    wave_size: int = Field(default=25, ge=1, le=5000, description="agents per wave after the canary")


class CancelBody(RequestBody):
    """``POST /api/upgrades/campaigns/{id}/cancel`` (optional, empty)."""
