"""What the IoT-rule handlers share: turning a rule event into ``(site_id, message)`` and dropping bad ones.

A rule (``SELECT encode(*, 'base64') AS message_base64, topic(5) AS topic_site_id FROM
'ct/<tenant>/<stage>/site/+/up/<channel>' WHERE <every other level as in the FROM>``, ``infra/aws/rules.py``; the
LMS sends with Basic Ingest, ``$aws/rules/<rule>/ct/...``, and the SQL sees the topic without that prefix) hands the
handler an event of exactly two keys: the site id from the topic and the whole message, base64-encoded. The site id
is read from the topic's key only; the message is decoded and validated on its own (its models forbid unknown
fields, ``site_id`` included), so nothing a site publishes can make a handler act for another site. A bad event is
logged and dropped with an error dict (a retry would fail the same way). An :class:`UpstreamError` (DynamoDB
unavailable or throttling) is re-raised so that Lambda's asynchronous retry redelivers the event — the handlers are
idempotent.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, TypeVar

from chalicelib import container, observability
from chalicelib.errors import CloudError, UpstreamError
from chalicelib.repositories import change_mark
from shared.errors import ErrorCode, MessageError, SharedError
from shared.messages.checks import MAX_PAYLOAD_BYTES

if TYPE_CHECKING:  # a message's mirror and the container load with the first event (docs/deploy.md)
    import msgspec

    from chalicelib.container import Container
    from shared.messages.structs import LifecycleEvent

log = logging.getLogger(__name__)

M = TypeVar("M", bound="msgspec.Struct")

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]

#: the event's key holding the site id, from the topic (``topic(5)``): no message key can take it
RULE_SITE_KEY = "topic_site_id"
#: the event's key holding the whole message, base64-encoded (``encode(*, 'base64')``)
RULE_MESSAGE_KEY = "message_base64"
_EVENT_KEYS = {RULE_SITE_KEY, RULE_MESSAGE_KEY}
#: the lifecycle rule's key holding the client id, from the topic (``topic(5)`` of ``$aws/events/presence/...``)
RULE_CLIENT_KEY = "topic_client_id"

#: base64 of the largest IoT Core message
_MAX_ENCODED = 4 * ((MAX_PAYLOAD_BYTES + 2) // 3)


def services() -> Container:
    """The services (``chalicelib.container``)."""
    return container.get()


def change_marks_deferred() -> AbstractContextManager[None]:
    """``chalicelib.repositories.change_mark.deferred()``."""
    return change_mark.deferred()


def parse_site_event(event: Any, struct: type[M]) -> tuple[str, M]:
    """Split a rule event into the site id (from the topic) and the validated message: decoded with its msgspec
    mirror (``shared.messages.structs``: the same checks as its pydantic model, without loading pydantic)."""
    from shared.messages.struct_support import decode
    from shared.topics import check_id

    site_id, payload = _split(event, RULE_SITE_KEY)
    return check_id(site_id, "site id"), decode(struct, payload)


#: the largest lifecycle event read (IoT Core's are a few hundred bytes)
MAX_LIFECYCLE_BYTES = 4096


def parse_presence_event(event: Any) -> tuple[str, LifecycleEvent]:
    """Split the lifecycle rule's event into the client id (from the topic) and IoT Core's event (its mirror)."""
    from shared.messages.struct_support import decode
    from shared.messages.structs import LifecycleEvent

    client_id, payload = _split(event, RULE_CLIENT_KEY)
    if len(payload) > MAX_LIFECYCLE_BYTES:
        raise MessageError("a lifecycle event of more than 4 KB", code=ErrorCode.BAD_PAYLOAD)
    try:
        return client_id, decode(LifecycleEvent, payload, max_bytes=MAX_LIFECYCLE_BYTES)
    except MessageError as exc:
        raise MessageError(f"not an IoT Core lifecycle event: {exc.message}", code=ErrorCode.BAD_PAYLOAD) from None


def _split(event: Any, id_key: str) -> tuple[str, bytes]:
    keys = {id_key, RULE_MESSAGE_KEY}
    if not isinstance(event, dict) or set(event) != keys:
        got = sorted(event) if isinstance(event, dict) else type(event).__name__
        raise MessageError(f"not an IoT rule event: expected the keys {sorted(keys)}, got {got}",
                           code=ErrorCode.BAD_PAYLOAD)
    site_id, encoded = event[id_key], event[RULE_MESSAGE_KEY]
    if not isinstance(site_id, str):
        raise MessageError(f"{id_key} must be a string", code=ErrorCode.BAD_PAYLOAD)
    if not isinstance(encoded, str) or len(encoded) > _MAX_ENCODED:
        raise MessageError(f"{RULE_MESSAGE_KEY} must be base64 of at most {MAX_PAYLOAD_BYTES} bytes",
                           code=ErrorCode.BAD_PAYLOAD)
    try:
        payload = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise MessageError(f"{RULE_MESSAGE_KEY} is not base64", code=ErrorCode.BAD_PAYLOAD) from None
    return site_id, payload


def run(name: str, event: Any, handle: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run ``handle``; turn a bad event into ``{"ok": false, "error": {...}}`` (logged, never raised)."""
    try:
        return {"ok": True, **handle()}
    except UpstreamError:
        log.exception("%s: upstream failure; the event will be retried", name)
        raise
    except (SharedError, CloudError) as exc:
        code, message = exc.code, exc.message
    except Exception as exc:  # a bug: drop the event rather than retry it forever
        log.exception("%s: unexpected error", name)
        code, message = ErrorCode.INTERNAL, f"{type(exc).__name__}: {exc}"
    site = (event.get(RULE_SITE_KEY) or event.get(RULE_CLIENT_KEY)) if isinstance(event, dict) else None
    log.warning("%s: dropped event from site %r: %s: %s", name, site, code.value, message)
    observability.count(observability.Metric.RULE_EVENTS_DROPPED)
    return {"ok": False, "error": {"code": code.value, "message": message}}
