"""What the IoT-rule handlers share: turning a rule event into ``(site_id, message)`` and dropping bad ones.

A rule (``SELECT *, topic(4) AS site_id FROM 'ct/<tenant>/site/+/up/<channel>'``) hands the handler the
message JSON object plus ``site_id``. A bad event is logged and dropped with an error dict (a retry would
fail the same way). An :class:`UpstreamError` (DynamoDB unavailable or throttling) is re-raised so that
Lambda's asynchronous retry redelivers the event — the handlers are idempotent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel

from chalicelib.errors import CloudError, UpstreamError
from shared.errors import ErrorCode, MessageError, SharedError
from shared.messages import validate
from shared.topics import check_id

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


def parse_site_event(event: Any, model: type[M]) -> tuple[str, M]:
    """Split a rule event into the site id (from the topic) and the validated message."""
    if not isinstance(event, dict):
        raise MessageError("event must be a JSON object", code=ErrorCode.BAD_PAYLOAD)
    body = dict(event)
    site_id = body.pop("site_id", None)
    if not isinstance(site_id, str):
        raise MessageError("event has no site_id (the rule adds it from the topic)", code=ErrorCode.BAD_PAYLOAD)
    return check_id(site_id, "site id"), validate(model, body)


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
    site = event.get("site_id") if isinstance(event, dict) else None
    log.warning("%s: dropped event from site %r: %s: %s", name, site, code.value, message)
    return {"ok": False, "error": {"code": code.value, "message": message}}
