"""The LMS's own configuration from the cloud: the documents of the ``lms:config`` named shadow of the site's thing
(:func:`shared.topics.lms_config_shadow_name`; docs/protocol.md#the-lmss-configuration-from-the-cloud).

* ``state.desired`` (written by the cloud API only): the cloud-settable settings, in ``lms.toml``'s names and JSON
  types (:class:`LmsConfigOverlay`); ``null`` removes a key, and the LMS falls back to its local file for it.
* ``state.reported`` (written by the site's LMS only): every cloud-settable setting in effect, plus
  ``config_status`` (:class:`LmsConfigStatus`): whether the latest desired document was applied or rejected,
  and why.

Both ends check keys and types with :class:`LmsConfigOverlay` (strict: ``"30"`` is not a number); the LMS checks the
bounds, against its own version's limits, and rejects the whole document with a reason when one is out of them.
AWS's own fields (``metadata``, ``timestamp``, ``clientToken``) are ignored when reading.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.messages.shadow import MAX_SHADOW_STATE_BYTES

#: the key of ``state.reported`` that says what became of the desired document (never a desired key)
STATUS_KEY = "config_status"


class _Overlay(BaseModel):
    """Strict (JSON types as they are) and closed (a local-only or unknown key is an error)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class ClassTopConfigOverlay(_Overlay):
    """``classtop``: the ClassTop client admission settings a district may set (``[classtop]`` of ``lms.toml``)."""

    client_policy: Literal["open", "approval"] | None = None
    max_clients: int | None = None
    max_pending: int | None = None
    max_connections: int | None = None
    max_connections_per_address: int | None = None


class LmsConfigOverlay(_Overlay):
    """The cloud-settable settings of the LMS (``lms.toml``'s top-level names); each optional."""

    site_heartbeat_s: float | None = None
    presence_timeout_s: float | None = None
    command_timeout_s: float | None = None
    metrics_retention_days: float | None = None
    metrics_prune_interval_s: float | None = None
    queue_default_ttl_s: float | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] | None = None
    exec_policy: Literal["allow", "local_only", "disabled"] | None = None
    classtop: ClassTopConfigOverlay | None = None


class _AwsDocument(BaseModel):
    model_config = ConfigDict(extra="ignore")


class LmsConfigStatus(_AwsDocument):
    """``state.reported.config_status``: what the LMS made of the desired document of shadow version ``version``."""

    state: Literal["applied", "rejected", "local"] = Field(
        description="applied: the desired settings are in effect; rejected: refused, the previous ones stay; "
        "local: nothing desired, the local file is in effect"
    )
    version: int | None = Field(default=None, description="the shadow version of the desired document meant")
    config_version: str | None = Field(default=None, max_length=64, description="the configuration in effect")
    reason: str | None = Field(default=None, max_length=1000, description="why it was rejected")
    at: float | None = None


class LmsConfigState(_AwsDocument):
    desired: dict[str, Any] | None = None
    reported: dict[str, Any] | None = None
    delta: dict[str, Any] | None = None


class LmsConfigShadow(_AwsDocument):
    """A whole ``lms:config`` document (``get/accepted``; ``current`` of ``update/documents``; the cloud's read)."""

    state: LmsConfigState = Field(default_factory=LmsConfigState)
    version: int | None = None

    def status(self) -> LmsConfigStatus | None:
        raw = (self.state.reported or {}).get(STATUS_KEY)
        if not isinstance(raw, dict):
            return None
        try:
            return LmsConfigStatus.model_validate(raw)
        except ValueError:
            return None


class LmsConfigDocuments(_AwsDocument):
    """``update/documents``: the document before and after an update."""

    current: LmsConfigShadow | None = None


def lms_config_update(section: Literal["desired", "reported"], values: dict[str, Any], *,
                      version: int | None = None) -> bytes:
    """An ``update`` request of ``state.<section>`` (``None`` removes a key); with ``version`` AWS applies it only if
    the shadow is still at that version (else 409). Raises ``ValueError`` over AWS's 8 KiB state limit."""
    doc: dict[str, Any] = {"state": {section: values}}
    if version is not None:
        doc["version"] = version
    payload = json.dumps(doc, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
    if len(payload) > MAX_SHADOW_STATE_BYTES:
        raise ValueError(f"shadow update of {len(payload)} bytes exceeds the {MAX_SHADOW_STATE_BYTES}-byte limit")
    return payload
