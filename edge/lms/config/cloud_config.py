"""The part of the LMS's configuration a district sets from the cloud (the ``lms:config`` shadow of the site's
thing: docs/protocol.md#the-lmss-configuration-from-the-cloud), and how it is laid over the local file.

Cloud-settable (:data:`CLOUD_SETTABLE`, :data:`CLASSTOP_CLOUD_SETTABLE`): timings and retention, the log level, the
exec policy and the ClassTop admission policy and limits -- each applied live by the LMS
(:meth:`edge.lms.lms_parts.LmsParts.apply_config`). Everything else stays local-only and is never read from the cloud:
tenant, stage and site id, the broker's address and credentials, the cloud link and its TLS files, the
database path, the HTTP ports and certificates, the site CA, the ClassTop plain-HTTP listener, and the ClassTop
rate limits that size buffers at start.

A desired document is validated whole, strictly (JSON types as they are: ``"30"`` is not a number, ``true`` is
not an integer), unknown or local-only keys refused, and then laid over the local file and validated again as a
whole :class:`~edge.lms.config.LmsConfig` (every bound of the file applies). Any error rejects the whole document
with a reason; nothing of it is applied.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from edge.lms.config.lms_config import LmsConfig
from shared.messages import describe_validation_error
from shared.messages.lms_config import ClassTopConfigOverlay, LmsConfigOverlay

#: top-level settings of ``lms.toml`` that the cloud may set (the shared schema's, ``classtop`` aside)
CLOUD_SETTABLE: tuple[str, ...] = tuple(name for name in LmsConfigOverlay.model_fields if name != "classtop")
#: settings of ``[classtop]`` that the cloud may set (under ``classtop``)
CLASSTOP_CLOUD_SETTABLE: tuple[str, ...] = tuple(ClassTopConfigOverlay.model_fields)
#: the largest desired document the LMS reads (AWS's shadow state limit is 8 KiB)
MAX_DESIRED_BYTES = 8 * 1024



class CloudConfigError(ValueError):
    """A desired configuration the LMS refuses; the message is the reason it reports."""


def check_overlay(desired: Any) -> dict[str, Any]:
    """The desired document's values (``None``s dropped), or :class:`CloudConfigError` with the reason."""
    if not isinstance(desired, dict):
        raise CloudConfigError("the desired configuration must be an object")
    size = len(json.dumps(desired, separators=(",", ":"), ensure_ascii=False, default=str).encode())
    if size > MAX_DESIRED_BYTES:
        raise CloudConfigError(f"the desired configuration holds {size} bytes; at most {MAX_DESIRED_BYTES}")
    try:
        overlay = LmsConfigOverlay.model_validate(desired)
    except ValidationError as exc:
        raise CloudConfigError(_reason(exc)) from None
    return overlay.model_dump(exclude_none=True)


def with_cloud_config(base: LmsConfig, desired: Any) -> LmsConfig:
    """``base`` (the local file) with the cloud's ``desired`` settings laid over it, validated whole.

    Raises :class:`CloudConfigError` (the reason) when ``desired`` has an unknown, local-only or mistyped key, or a
    value out of the file's bounds; ``base`` is not changed either way."""
    values = check_overlay(desired)
    if not values:
        return base
    classtop = values.pop("classtop", None)
    data = base.model_dump()
    data.update(values)
    if classtop:
        data["classtop"] = {**data["classtop"], **classtop}
    try:
        return LmsConfig.model_validate(data)
    except ValidationError as exc:
        raise CloudConfigError(_reason(exc)) from None


def cloud_settable_values(cfg: LmsConfig) -> dict[str, Any]:
    """The cloud-settable settings in effect in ``cfg`` (what the LMS reports), in the desired document's shape."""
    values: dict[str, Any] = {name: getattr(cfg, name) for name in CLOUD_SETTABLE}
    values["classtop"] = {name: getattr(cfg.classtop, name) for name in CLASSTOP_CLOUD_SETTABLE}
    return values


def _reason(exc: ValidationError) -> str:
    text = describe_validation_error(exc, limit=5).replace("Extra inputs are not permitted",
                                                           "not settable from the cloud")
    return text[:1000]
