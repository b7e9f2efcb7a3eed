"""Device shadows in AWS IoT Core (``iot-data`` ``UpdateThingShadow`` / ``GetThingShadow``) behind a small
:class:`ShadowStore` protocol.

The cloud keeps each agent's desired settings in a named shadow of its site's thing (``shared.messages.shadow``).
A store returns AWS's documents as parsed JSON; it neither validates nor interprets them (the service does).

What AWS (and moto, which the unit tests use, and the local twin's shadow REST API) return: ``GetThingShadow`` gives
the whole document with ``state.desired``, ``state.reported`` and the computed ``state.delta``; ``UpdateThingShadow``
gives only the state that was *sent* (plus ``metadata``, ``version``, ``timestamp``), never the merged document nor
a ``delta``.
A caller that needs the result of an update reads the shadow again.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters.aws import describe, error_code
from chalicelib.adapters.iot import IotDataClient
from chalicelib.errors import UpstreamError
from shared.errors import ErrorCode

if TYPE_CHECKING:  # pydantic loads with the first shadow document read
    from pydantic import BaseModel


class ShadowError(UpstreamError):
    """IoT Core refused or failed a shadow call (502): our configuration or AWS, not the caller's request."""


class ShadowThingMissing(ShadowError, status=409, code=ErrorCode.CONFLICT):
    """The site's IoT thing does not exist (the site was not enrolled with an IoT identity): 409."""


class ShadowConflict(ShadowError, status=409, code=ErrorCode.CONFLICT):
    """The update named a ``version`` the shadow no longer has (another writer came first): 409."""


class ShadowTooLarge(ShadowError, status=413, code=ErrorCode.PAYLOAD_TOO_LARGE):
    """AWS refused the update: the shadow's state (desired + reported, whatever wrote it) would pass 8 KB: 413."""


class ShadowThrottled(ShadowError, status=429, code=ErrorCode.RATE_LIMITED):
    """AWS throttled the call (the Device Shadow service's requests per thing): 429, retry later."""


#: AWS's error code on an update -> what it means here (other codes: :class:`ShadowError`, 502)
_UPDATE_ERRORS: dict[str, type[ShadowError]] = {
    "ConflictException": ShadowConflict,
    "RequestEntityTooLargeException": ShadowTooLarge,
    "ThrottlingException": ShadowThrottled,
}


class ShadowStore(Protocol):
    """Named shadows of IoT things. Raises :class:`ShadowError` when IoT Core fails or refuses."""

    def update(self, thing: str, shadow: str, payload: bytes) -> dict[str, Any]:
        """Send an update request (``{"state": {...}}``, optionally ``version``); returns AWS's
        ``UpdateThingShadow`` response document. :class:`ShadowConflict` when ``version`` is stale."""
        ...

    def get(self, thing: str, shadow: str) -> dict[str, Any] | None:
        """The whole shadow document, or ``None`` when the shadow (or the thing) does not exist."""
        ...


D = TypeVar("D", bound="BaseModel")


def read_document(shadows: ShadowStore, thing: str, shadow: str, model: type[D], what: str = "") -> D:
    """The shadow's document as ``model`` (a shadow that does not exist yet is an empty ``model()``); one that does
    not parse is a :class:`ShadowError` naming ``what`` it should have been (e.g. ``"settings "``)."""
    from pydantic import ValidationError  # here: a rule function that reads no shadow never loads pydantic

    raw = shadows.get(thing, shadow)
    if raw is None:
        return model()
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ShadowError(f"shadow {thing}/{shadow} holds an invalid {what}document: "
                          f"{exc.error_count()} error(s)") from None


class IotShadowStore(IotDataClient):
    """The production :class:`ShadowStore` (``iot-data`` ``UpdateThingShadow`` / ``GetThingShadow``)."""

    def update(self, thing: str, shadow: str, payload: bytes) -> dict[str, Any]:
        try:
            response = self.client.update_thing_shadow(thingName=thing, shadowName=shadow, payload=payload)
            return _document(response["payload"].read(), thing, shadow)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                raise ShadowThingMissing(
                    f"IoT thing {thing} does not exist: the site has no IoT identity (enrol it)") from exc
            refused = _UPDATE_ERRORS.get(error_code(exc) or "")
            if refused is ShadowConflict:
                raise ShadowConflict(f"shadow {thing}/{shadow} changed since it was read") from exc
            if refused is not None:
                raise refused(f"shadow update {thing}/{shadow} refused: {describe(exc).rstrip(': ')}") from exc
            raise ShadowError(f"shadow update {thing}/{shadow} failed: {describe(exc).rstrip(': ')}") from exc
        except BotoCoreError as exc:
            raise ShadowError(f"shadow update {thing}/{shadow} failed: {exc}") from exc

    def get(self, thing: str, shadow: str) -> dict[str, Any] | None:
        try:
            response = self.client.get_thing_shadow(thingName=thing, shadowName=shadow)
            return _document(response["payload"].read(), thing, shadow)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return None
            raise ShadowError(f"shadow get {thing}/{shadow} failed: {describe(exc).rstrip(': ')}") from exc
        except BotoCoreError as exc:
            raise ShadowError(f"shadow get {thing}/{shadow} failed: {exc}") from exc

    def delete(self, thing: str, shadow: str) -> bool:
        """``DeleteThingShadow`` (the :class:`ShadowEraser` of the production store)."""
        try:
            self.client.delete_thing_shadow(thingName=thing, shadowName=shadow)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return False
            raise ShadowError(f"shadow delete {thing}/{shadow} failed: {describe(exc).rstrip(': ')}") from exc
        except BotoCoreError as exc:
            raise ShadowError(f"shadow delete {thing}/{shadow} failed: {exc}") from exc
        return True


class ShadowEraser(Protocol):
    """Deletes named shadows (what retiring an agent or a site needs). Raises :class:`ShadowError` on failure."""

    def delete(self, thing: str, shadow: str) -> bool:
        """Delete the shadow; ``False`` when it (or the thing) did not exist."""
        ...


def _document(raw: bytes, thing: str, shadow: str) -> dict[str, Any]:
    try:
        document = json.loads(raw) if raw else {}
    except (UnicodeDecodeError, ValueError) as exc:
        raise ShadowError(f"shadow {thing}/{shadow}: IoT Core returned a document that is not JSON") from exc
    if not isinstance(document, dict):
        raise ShadowError(f"shadow {thing}/{shadow}: IoT Core returned a document that is not an object")
    return document

