"""The ids in the seed's paths: ``{uuid}`` names an agent in ``/api/clients/{uuid}/...``, ``/api/settings/{uuid}``
and ``/api/cctv/{uuid}/...``, and a ClassTop client in the ClassTop clients' paths. The wire keeps ``uuid``; a route
takes it as ``agent_id`` or ``client_uuid`` at once (``agent_id: AgentIdPath``). Both are ids of the fleet
(``shared.topics.ID_PATTERN``, in the document): any other ``{uuid}`` is refused by the route (404 or 422).

A row's integer id in a path (``/api/tokens/{token_id}``, ``/api/commands/queue/{item_id}``,
``/api/cloud/dead-letters/{dead_id}``) is a :data:`RowId`: 1 to 2^63-1, SQLite's integer range, so that a larger
number is a 422 and not an ``OverflowError`` (a 500) on its way into SQLite.

An integer in a path or a query is ASCII digits (a leading ``-`` where the bounds allow one): pydantic alone would
read ``" 3"``, ``"\\xa03"`` or ``"+3"`` as 3 where the document says integer (:data:`DIGITS_ONLY`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path
from pydantic import BeforeValidator

from shared.topics import ID_PATTERN

#: SQLite's largest integer (a row id never exceeds it)
MAX_ROW_ID = 2**63 - 1


def _digits_only(value: object) -> object:
    if isinstance(value, str) and not (value.isascii() and value.removeprefix("-").isdigit()):
        raise ValueError("an integer: digits only")
    return value


#: Refuses an integer parameter that is not ASCII digits (``Annotated[int, Query(...), DIGITS_ONLY]``).
DIGITS_ONLY = BeforeValidator(_digits_only)

#: The pattern every id of the fleet has, as the document says it (an agent route checks it in its own words: an
#: unknown or malformed agent is its 404 or 422; a ClassTop client's uuid is checked here: 422).
_ID_SCHEMA = {"pattern": ID_PATTERN}


async def _agent_id(uuid: Annotated[str, Path(description="an agent's id", json_schema_extra=_ID_SCHEMA)]) -> str:
    return uuid


async def _client_uuid(uuid: Annotated[str, Path(pattern=ID_PATTERN, description="a ClassTop client's uuid")]) -> str:
    return uuid


#: The agent's id from the path's ``{uuid}``.
AgentIdPath = Annotated[str, Depends(_agent_id)]
#: The ClassTop client's uuid from the path's ``{uuid}``.
ClientUuidPath = Annotated[str, Depends(_client_uuid)]
#: A row's integer id in a path: 1 to :data:`MAX_ROW_ID` (anything else: 422, never a 500).
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="the row's id (1 to 2^63-1)"), DIGITS_ONLY]
