"""Change marks (``ChangeMarkModel``): what the dashboard's polls compare instead of re-reading a whole area."""

from __future__ import annotations

import time
from collections.abc import Iterable
from enum import StrEnum

from chalicelib.models.change_mark import ChangeMarkModel
from chalicelib.repositories.base import dynamo_errors


class Area(StrEnum):
    """A polled area: every repository write to it bumps its mark."""

    AGENTS = "agents"
    SITES = "sites"
    COMMANDS = "commands"
    EVENTS = "events"


def bump(area: Area) -> None:
    """One more change to ``area`` (an atomic ``ADD``: concurrent writers never lose a bump)."""
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
