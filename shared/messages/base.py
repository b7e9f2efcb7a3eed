"""Base model, schema version, and the one encode/decode pair used on every hop."""

from __future__ import annotations

import logging
import types
import typing
from collections.abc import Hashable, Sequence
from typing import Annotated, Any, Final, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError, model_validator

from shared.errors import ErrorCode, MessageError, SharedError

# the JSON intake lives in the pydantic-free checks module (the msgspec mirrors use it too); named here as before
from shared.messages.checks import (  # noqa: F401
    MAX_DATA_DEPTH,
    MAX_INT,
    MAX_PAYLOAD_BYTES,
    MAX_PAYLOAD_DEPTH,
    MIN_INT,
    json_problem,
    load_json,
)
from shared.messages.schema_builds import DEFERRED

SCHEMA_VERSION: Final = 1
M = TypeVar("M", bound=BaseModel)


def _a_number(value: object) -> object:
    """A count is a JSON number: ``true`` or ``"5"`` is refused (lax parsing read them as 1 and 5); an integral
    float such as ``4.0`` is an integer to JSON Schema, and pydantic takes it as 4."""
    if isinstance(value, bool | str):
        raise ValueError("must be a number")
    return value


#: a whole number given as a JSON number (``strict`` would refuse ``4.0``, which the documents allow)
Count = Annotated[int, BeforeValidator(_a_number)]


def _takes_numbers_only(annotation: Any) -> bool:
    """Whether a field's type has ``int`` or ``float`` in it and no ``bool`` (nor ``Any``)."""
    found: set[Any] = set()
    pending = [annotation]
    while pending:
        a = pending.pop()
        if typing.get_origin(a) is Annotated:
            pending.append(typing.get_args(a)[0])
        elif typing.get_origin(a) in (typing.Union, types.UnionType):
            pending.extend(typing.get_args(a))
        else:
            found.add(a)
    return bool(found & {int, float}) and not found & {bool, Any}


_NUMBERS_ONLY: dict[type, frozenset[str]] = {}


def _numbers_only(model: type[BaseModel]) -> frozenset[str]:
    """The names (and aliases) of ``model``'s fields that take a number and never a boolean."""
    names = _NUMBERS_ONLY.get(model)
    if names is None:
        names = frozenset(n for name, info in model.model_fields.items() if _takes_numbers_only(info.annotation)
                          for n in (name, info.alias) if n)  # fmt: skip
        _NUMBERS_ONLY[model] = names
    return names


class Strict(BaseModel):
    """A nested record: unknown fields are an error, and so are NaN and infinities in float fields, and a JSON
    boolean where a number is expected (pydantic's lax mode reads ``true`` as 1 for ``int`` and ``float``)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, data: Any) -> Any:
        if isinstance(data, dict):
            numeric = _numbers_only(cls)
            for key, value in data.items():
                if isinstance(value, bool) and key in numeric:
                    raise ValueError(f"{key}: a number is expected, not a boolean")
        return data


class Message(Strict):
    """Top-level message: carries ``type`` (in subclasses) and the schema version ``v``."""

    v: Literal[1] = SCHEMA_VERSION


def defer_schema_builds() -> None:
    """Models defined after this call build their validator on first use (pydantic ``defer_build``); validation
    is the same. The agent calls it before importing its models (edge/agent/__init__.py): it defines many models
    and uses few (edge.agent.footprint). Servers keep building at import: FastAPI wraps body models in adapters
    that warn when they build a deferred model."""
    for base in (Strict, Message):  # a subclass takes its direct bases' config when it is defined
        base.model_config["defer_build"] = True


if DEFERRED[0]:  # asked for before pydantic was loaded (shared.messages.schema_builds)
    defer_schema_builds()


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


def _bounded(value: Any) -> Any:
    problem = json_problem(value)
    if problem is not None:
        raise ValueError(f"holds {problem}")
    return value


#: A free-form JSON field: any JSON, within :data:`MAX_DATA_DEPTH` levels, finite numbers, 64-bit integers.
JsonData = Annotated[Any, AfterValidator(_bounded)]
#: A free-form JSON object field, bounded like :data:`JsonData`.
JsonObject = Annotated[dict[str, Any], AfterValidator(_bounded)]


def decode(model: type[M], payload: bytes | str, *, max_bytes: int = MAX_PAYLOAD_BYTES) -> M:
    """Parse and validate ``payload`` as ``model``."""
    data = load_json(payload, max_bytes=max_bytes)
    return validate(model, data)


def decode_or_none(model: type[M], payload: bytes | str, log: logging.Logger, what: str) -> M | None:
    """:func:`decode`, or ``None`` when ``payload`` is not a ``model`` (a warning on ``log``: ``what`` dropped a bad
    message, and why) — for handlers that count the refusal and drop the message."""
    try:
        return decode(model, payload)
    except SharedError as exc:
        log.warning("%s: dropped a bad message: %s", what, exc.message)
        return None


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
