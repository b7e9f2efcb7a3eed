"""The request bodies of the routes of ``chalicelib/api/lms_config.py``: imported when one of them is first
called or the OpenAPI document is built (``api/routes.py``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from chalicelib.api.bodies.request_body import RequestBody
from shared.messages.lms_config import LmsConfigOverlay


class LmsConfigBody(RequestBody):
    """``PUT /api/lms/{site_id}/config``: cloud-settable settings to merge into desired (``null`` removes one)."""

    config: dict[str, Any] = Field(
        min_length=1, description="lms.toml's cloud-settable keys (docs/api.md) -> value, or null"
    )
    version: int | None = Field(default=None, ge=0, description="the version read: 409 if the shadow moved on")

    @classmethod
    def openapi_extra(cls) -> dict[str, Any]:
        """``config`` as the service checks it (``services.lms_config.check``): the cloud-settable keys with their
        JSON types, and any other key only removed (``null``, or an object of removals: AWS's merge drops it)."""
        removal = {"$ref": f"#/components/schemas/{_REMOVAL}"}
        overlay = LmsConfigOverlay.model_json_schema(ref_template="#/components/schemas/{model}")
        defs = overlay.pop("$defs", {})
        for schema in (overlay, *defs.values()):
            if "properties" in schema:
                schema["additionalProperties"] = removal
        properties = cls.model_json_schema(ref_template="#/components/schemas/{model}")["properties"]
        properties["config"] = {**overlay, "minProperties": 1, "description": properties["config"]["description"]}
        defs[_REMOVAL] = {"anyOf": [{"type": "null"}, {"type": "object", "additionalProperties": removal}]}
        return {"properties": properties, "$defs": defs}


#: a key that is not cloud-settable, in a configuration PUT: only removed (``null``, or an object of removals)
_REMOVAL = "LmsConfigRemoval"
