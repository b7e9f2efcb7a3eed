"""Requests to the twin's Device Shadow service: whether AWS IoT would take one (the checks that need no
document), from the AWS IoT Developer Guide ("Device Shadow service documents", "Device Shadow error messages")
and "AWS IoT Core endpoints and quotas". The documents themselves: :mod:`infra.local.shadow_documents`.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: "The maximum number of levels in the desired or reported section of the JSON device state document is 6"
MAX_DEPTH = 6
#: "The client token can be no longer than 64 bytes"
MAX_CLIENT_TOKEN_BYTES = 64
#: AWS IoT Core's maximum MQTT message payload (128 KB): no request can be larger
MAX_REQUEST_BYTES = 128 * 1024

_THING_RE = re.compile(r"^[a-zA-Z0-9:_-]{1,128}$")
_SHADOW_RE = re.compile(r"^[a-zA-Z0-9:_-]{1,64}$")
_SECTIONS = ("desired", "reported")


class ShadowRequestError(Exception):
    """A request IoT Core rejects: ``code`` is the HTTP status it answers, ``message`` its documented text."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message


def invalid(message: str) -> ShadowRequestError:
    return ShadowRequestError(400, message)


def no_such_shadow(thing: str, name: str | None) -> ShadowRequestError:
    return ShadowRequestError(404, f"No shadow exists with name: '{name if name is not None else thing}'")


def check_names(thing: str, name: str | None) -> None:
    """Thing names: 1-128 of ``[a-zA-Z0-9:_-]``; shadow names: 1-64 of the same (AWS's quotas)."""
    if not _THING_RE.match(thing):
        raise invalid("Invalid thing name")
    if name is not None and not _SHADOW_RE.match(name):
        raise invalid("Invalid shadow name")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(payload: bytes) -> Any:
    """The payload as JSON (UTF-8 only: 415 otherwise; 400 "Invalid JSON")."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise ShadowRequestError(415, "Unsupported documented encoding; supported encoding is UTF-8") from None
    try:
        return json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise invalid("Invalid JSON") from None


def client_token(request: Any) -> str | None:
    """The request's ``clientToken`` if it is a valid one (what a reply may echo)."""
    token = request.get("clientToken") if isinstance(request, dict) else None
    if isinstance(token, str) and len(token.encode()) <= MAX_CLIENT_TOKEN_BYTES:
        return token
    return None


def token_of(payload: bytes) -> str | None:
    """The valid ``clientToken`` of a raw request, if any (for a rejection's reply)."""
    try:
        return client_token(json.loads(payload))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def check_token(request: dict[str, Any]) -> None:
    if "clientToken" in request and client_token(request) is None:
        raise invalid("Invalid clientToken")


def _levels(value: Any) -> int:
    """Levels of nesting in ``value``, counted as keys along the deepest path: ``{"a": {"b": 1}}`` and
    ``{"a": {"b": {}}}`` have 2 (the quotas page's example of the limit ends in an empty object); an array of
    objects or arrays adds a level, an array of scalars is a value."""
    if isinstance(value, dict):
        return max((1 + _levels(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return max((1 + _levels(v) for v in value if isinstance(v, dict | list)), default=0)
    return 0


def _has_null_in_array(value: Any, in_array: bool = False) -> bool:
    if value is None:
        return in_array
    if isinstance(value, dict):
        return any(_has_null_in_array(v, in_array) for v in value.values())
    if isinstance(value, list):
        return any(_has_null_in_array(v, True) for v in value)
    return False


def parse_update(payload: bytes) -> dict[str, Any]:
    """A valid update request (the checks that need no document), or :class:`ShadowRequestError`."""
    if len(payload) > MAX_REQUEST_BYTES:
        raise ShadowRequestError(413, "The payload exceeds the maximum size allowed")
    request = parse_json(payload)
    if not isinstance(request, dict):
        raise invalid("Invalid JSON")
    check_token(request)
    version = request.get("version")
    if "version" in request and (isinstance(version, bool) or not isinstance(version, int) or version < 0):
        raise invalid("Invalid version")
    if "state" not in request:
        raise invalid("Missing required node: state")
    state = request["state"]
    if not isinstance(state, dict):
        raise invalid("State node must be an object")
    for key, section in state.items():
        if key not in _SECTIONS:
            raise invalid("State contains an invalid node")
        if section is not None and not isinstance(section, dict):
            raise invalid(f"{key.capitalize()} node must be an object")
        # "desired": {"1": {"2": {"3": {"4": {"5": {"6": x}}}}}} is the deepest allowed
        if _levels(section) > MAX_DEPTH:
            raise invalid(f"JSON contains too many levels of nesting; maximum is {MAX_DEPTH}")
        if _has_null_in_array(section):
            raise invalid("State contains an invalid node")
    return request
