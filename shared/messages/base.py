"""Base model, schema version, and the one encode/decode pair used on every hop."""

from __future__ import annotations

import json
from collections.abc import Hashable, Sequence
from typing import Any, Final, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from shared.errors import ErrorCode, MessageError

SCHEMA_VERSION: Final = 1
#: AWS IoT Core's message limit; nothing bigger is accepted on any hop.
MAX_PAYLOAD_BYTES = 128 * 1024

M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    """A nested record: unknown fields are an error."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Message(Strict):
    """Top-level message: carries ``type`` (in subclasses) and the schema version ``v``."""

    v: Literal[1] = SCHEMA_VERSION


def require_unique(keys: Sequence[Hashable], message: str) -> None:
    """In a validator: ``ValueError(message)`` when ``keys`` repeat one."""
    if len(set(keys)) != len(keys):
        raise ValueError(message)


def describe_validation_error(exc: ValidationError, limit: int = 5) -> str:
    """A short, human-readable summary of a pydantic error: ``field: problem; ...``."""
    parts: list[str] = []
    for err in exc.errors()[:limit]:
        loc = ".".join(str(p) for p in err.get("loc", ())) or "(body)"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    more = len(exc.errors()) - limit
    if more > 0:
        parts.append(f"... and {more} more")
    return "; ".join(parts)


def load_json(payload: bytes | str, *, max_bytes: int = MAX_PAYLOAD_BYTES) -> Any:
    """Decode a JSON payload with a size cap; raise :class:`MessageError` with a precise code."""
    raw = payload.encode() if isinstance(payload, str) else payload
    if len(raw) > max_bytes:
        raise MessageError(
            f"payload of {len(raw)} bytes exceeds the {max_bytes}-byte limit", code=ErrorCode.PAYLOAD_TOO_LARGE
        )
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MessageError(f"payload is not valid JSON: {exc}", code=ErrorCode.BAD_JSON) from None


def decode(model: type[M], payload: bytes | str, *, max_bytes: int = MAX_PAYLOAD_BYTES) -> M:
    """Parse and validate ``payload`` as ``model``."""
    data = load_json(payload, max_bytes=max_bytes)
    return validate(model, data)


def validate(model: type[M], data: Any) -> M:
    """Validate already-decoded JSON data as ``model``."""
    if not isinstance(data, dict):
        raise MessageError(f"{model.__name__} must be a JSON object", code=ErrorCode.BAD_PAYLOAD)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise MessageError(
            f"invalid {model.__name__}: {describe_validation_error(exc)}", code=ErrorCode.BAD_PAYLOAD
        ) from None


def encode(message: BaseModel) -> bytes:
    """Serialise a message to compact JSON bytes (``None`` fields are kept only where set)."""
    return message.model_dump_json(exclude_none=True).encode()
