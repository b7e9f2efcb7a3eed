"""Change marks (``ChangeMarkModel``): what the dashboard's polls compare instead of re-reading a whole area."""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from enum import StrEnum

from chalicelib.models.change_mark import ChangeMarkModel
from chalicelib.repositories.base import dynamo_errors


class Area(StrEnum):
    """A polled area: every repository write to it bumps its mark."""

    AGENTS = "agents"
    SITES = "sites"
    COMMANDS = "commands"
    EVENTS = "events"


#: areas written inside :func:`deferred`, bumped once when it ends
_pending: contextvars.ContextVar[set[Area] | None] = contextvars.ContextVar("pending_marks", default=None)


@contextmanager
def deferred() -> Iterator[None]:
    """Bump each area written inside the block once, when it ends (after every write: a poll that read the marks
    before then fetches again next time). One invocation (a request, a site's heartbeat of 40 agents) costs one
    bump per area it wrote, not one per item."""
    if _pending.get() is not None:  # nested: the outer block bumps
        yield
        return
    token = _pending.set(set())
    try:
        yield
    finally:
        areas = _pending.get() or set()
        _pending.reset(token)
        for area in sorted(areas):
            _bump_now(area)


def bump(area: Area) -> None:
    """One more change to ``area``: now, or at the end of the enclosing :func:`deferred` block."""
    pending = _pending.get()
    if pending is not None:
        pending.add(area)
    else:
        _bump_now(area)


def _bump_now(area: Area) -> None:
    """An atomic ``ADD``: concurrent writers never lose a bump."""
    with dynamo_errors(f"mark {area.value} changed"):
        ChangeMarkModel(area.value).update(actions=[ChangeMarkModel.revision.add(1),
                                                    ChangeMarkModel.changed_at.set(time.time())])


def revisions(areas: Iterable[Area]) -> dict[Area, int]:
    """The current revision of each area (0: never changed), in one ``BatchGetItem``."""
    wanted = list(dict.fromkeys(areas))
    found = {a: 0 for a in wanted}
    with dynamo_errors("read change marks"):
        for item in ChangeMarkModel.batch_get([a.value for a in wanted]):
            found[Area(item.area)] = int(item.revision)
    return found
