"""The ids in the seed's paths: ``{uuid}`` names an agent in ``/api/clients/{uuid}/...``, ``/api/settings/{uuid}``
and ``/api/cctv/{uuid}/...``, and a ClassTop client in the ClassTop clients' paths. The wire keeps ``uuid``; a route
takes it as ``agent_id`` or ``client_uuid`` at once (``agent_id: AgentIdPath``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends


async def _agent_id(uuid: str) -> str:
    return uuid


async def _client_uuid(uuid: str) -> str:
    return uuid


#: The agent's id from the path's ``{uuid}``.
AgentIdPath = Annotated[str, Depends(_agent_id)]
#: The ClassTop client's uuid from the path's ``{uuid}``.
ClientUuidPath = Annotated[str, Depends(_client_uuid)]
