"""Whether the message models build their validators on first use (pydantic ``defer_build``), chosen without
importing pydantic: the agent asks for it at start and may never load a model (edge/agent/footprint.py)."""

from __future__ import annotations

import sys

#: set by :func:`defer_schema_builds`; ``shared.messages.base`` reads it when it is first imported
DEFERRED: list[bool] = [False]


def defer_schema_builds() -> None:
    """Models defined from now on build on first use (``shared.messages.base.defer_schema_builds``), whether or not
    pydantic is loaded yet."""
    DEFERRED[0] = True
    base = sys.modules.get("shared.messages.base")
    if base is not None:
        base.defer_schema_builds()
