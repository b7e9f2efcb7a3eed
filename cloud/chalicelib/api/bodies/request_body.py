"""The base of every request body schema (pydantic): loaded with the first body a request parses, not with the
API function's import (docs/deploy.md#cold-starts)."""

from __future__ import annotations

import functools
import typing
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from shared.messages import Strict


class RequestBody(Strict):
    """Base of the request bodies: strict types, unknown fields rejected.

    A constraint its validators check beyond the fields' own (one of several fields, a value per command...) is
    stated in :meth:`openapi_extra`, merged into the body's schema in the OpenAPI document."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @classmethod
    def openapi_extra(cls) -> dict[str, Any]:
        """JSON schema keywords added to the body's schema (``$ref`` to ``#/components/schemas/<model>``, their
        ``$defs`` beside them)."""
        return {}

    @model_validator(mode="before")
    @classmethod
    def _integral_numbers(cls, data: Any) -> Any:
        """JSON has one kind of number: ``5.0`` is the integer 5 to a JSON Schema validator, so an integer field
        takes it too (``5.5`` is still refused, as is ``"5"``)."""
        if not isinstance(data, dict):
            return data
        integers = _integer_fields(cls)
        return {
            key: int(value) if key in integers and isinstance(value, float) and value.is_integer() else value
            for key, value in data.items()
        }


@functools.cache
def _integer_fields(model: type[BaseModel]) -> frozenset[str]:
    """The fields of ``model`` that hold an integer (or ``None``), booleans aside."""

    def integer(annotation: Any) -> bool:
        return annotation is int or any(arg is int for arg in typing.get_args(annotation))

    return frozenset(name for name, info in model.model_fields.items() if integer(info.annotation))
