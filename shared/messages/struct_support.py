"""What the generated mirrors (``structs.py``; the agent's ``edge/agent/config_structs.py``) call at run time:
checks their ``__post_init__`` run, and building, decoding and encoding a mirror. Hand-written, imported by the
generated modules (``struct_writer.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import msgspec

from shared.errors import ErrorCode, MessageError
from shared.messages.checks import MAX_PAYLOAD_BYTES, json_problem, load_json

S = TypeVar("S", bound=msgspec.Struct)


def finite(name: str, value: float | None) -> None:
    if value is not None and value - value != 0.0:
        raise ValueError(f"{name}: a number that is NaN or infinite")


def bounded(name: str, value: Any) -> None:
    problem = json_problem(value)
    if problem is not None:
        raise ValueError(f"{name}: holds {problem}")


def rule(problem: str | None) -> None:
    if problem is not None:
        raise ValueError(problem)


def build(struct: type[S], **fields: Any) -> S:
    """A checked ``struct`` from ``fields`` (as the pydantic model's constructor; ``msgspec.ValidationError``)."""
    return msgspec.convert(fields, struct)


def validate(struct: type[S], data: Any) -> S:
    """Already-decoded JSON ``data`` as ``struct``; :class:`MessageError` (``bad_payload``) when it is not one."""
    if not isinstance(data, dict):
        raise MessageError(f"{struct.__name__} must be a JSON object", code=ErrorCode.BAD_PAYLOAD)
    try:
        return msgspec.convert(data, struct)
    except msgspec.ValidationError as exc:
        raise MessageError(f"invalid {struct.__name__}: {exc}", code=ErrorCode.BAD_PAYLOAD) from None


def decode(struct: type[S], payload: bytes | str, *, max_bytes: int = MAX_PAYLOAD_BYTES) -> S:
    """Parse (``shared.messages.checks.load_json``: the same limits as every hop) and validate ``payload``."""
    return validate(struct, load_json(payload, max_bytes=max_bytes))


_ENCODER = msgspec.json.Encoder()


def as_dict(message: msgspec.Struct) -> dict[str, Any]:
    """The message as a dict, ``None`` fields of every struct in it left out (pydantic's ``exclude_none``)."""
    out = {}
    for name in message.__struct_fields__:
        value = getattr(message, name)
        if value is None:
            continue
        if isinstance(value, msgspec.Struct):
            value = as_dict(value)
        elif isinstance(value, list) and value and isinstance(value[0], msgspec.Struct):
            value = [as_dict(v) for v in value]
        out[name] = value
    return out


def encode(message: msgspec.Struct) -> bytes:
    """Compact JSON, ``None`` fields of every struct in it left out (as ``shared.messages.encode``)."""
    return _ENCODER.encode(as_dict(message))


def config_dec_hook(tp: type, value: Any) -> Any:
    """The configuration mirrors' types msgspec does not know: paths from strings, secrets from strings (or from a
    pydantic ``SecretStr``)."""
    from shared.config_file import Secret  # the agent's configuration only: not with every message mirror

    if tp is Path and isinstance(value, str | Path):
        return Path(value)
    if tp is Secret and isinstance(value, str):
        return Secret(value)
    if tp is Secret and callable(getattr(value, "get_secret_value", None)):
        return Secret(value.get_secret_value())
    raise TypeError(f"Expected `{tp.__name__}`, got `{type(value).__name__}`")


def config_enc_hook(value: Any) -> Any:
    from shared.config_file import Secret

    if isinstance(value, Path | Secret):
        return str(value)  # a secret as pydantic dumps one: masked
    raise NotImplementedError(type(value).__name__)
