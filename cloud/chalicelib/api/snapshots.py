"""Agents' snapshots as their sites last sent them: ``GET /api/agents/{agent_id}/snapshots``."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib import container
from chalicelib.api.http import authenticate, endpoint, ok
from chalicelib.errors import BadRequest
from shared.topics import is_valid_id

bp = Blueprint(__name__)


@bp.route("/api/agents/{agent_id}/snapshots", methods=["GET"])
@endpoint
def agent_snapshots(agent_id: str) -> Response:
    principal = authenticate(bp.current_request)
    if not is_valid_id(agent_id):
        raise BadRequest(f"agent id: invalid {agent_id[:80]!r}")
    return ok(container.get().snapshots.list(agent_id, principal))
