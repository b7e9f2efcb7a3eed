"""The ``expire_commands`` scheduled handler (every 5 minutes): see ``services/command_expiry.py``."""

from __future__ import annotations

import dataclasses
from typing import Any

from chalicelib.handlers.events import change_marks_deferred, services


def expire_commands(event: Any) -> dict[str, Any]:
    """Close overdue commands (``event`` is Chalice's ``CloudWatchEvent``, unused). An :class:`UpstreamError`
    propagates: the next run picks the same commands up."""
    with change_marks_deferred():
        return {"ok": True, **dataclasses.asdict(services().sweeper.sweep())}
