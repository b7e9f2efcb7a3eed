"""``GET /api/commands/catalog``: which commands each kind of agent runs, so that pickers offer only those.

Our agents run every command of the shared catalogue a caller may send (not the ones only the LMS or a device
shadow sends); an unchanged ClassTop desktop client runs its settings commands, its own ``camera_*`` commands and
the CCTV commands that map onto them (:mod:`edge.lms.legacy.protocol`). ``admin_only`` ones need the admin role.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from edge.lms.api.authentication import require_viewer
from edge.lms.legacy.protocol import CAMERA_COMMANDS, CCTV_MAP, SETTINGS_COMMANDS
from shared.commands import CATALOGUE, CommandSpec
from shared.messages import AgentKind

router = APIRouter(prefix="/api/commands", tags=["commands"], dependencies=[Depends(require_viewer)])


def _entry(spec: CommandSpec) -> dict[str, Any]:
    return {"name": spec.name, "category": spec.category.value, "description": spec.description,
            "admin_only": spec.admin_only, "mutating": spec.mutating}  # fmt: skip


def catalogue_by_kind() -> dict[str, list[dict[str, Any]]]:
    callable_ = [s for s in CATALOGUE.values() if not (s.shadow_only or s.lms_only)]
    classtop = SETTINGS_COMMANDS | set(CCTV_MAP)
    legacy = [_entry(s) for s in callable_ if s.name in classtop]
    legacy += [{"name": name, "category": "camera", "description": "the ClassTop client's own camera command",
                "admin_only": False, "mutating": not name.startswith(("camera_get", "camera_initialize"))}
               for name in sorted(CAMERA_COMMANDS)]  # fmt: skip
    return {AgentKind.AGENT.value: [_entry(s) for s in callable_], AgentKind.LEGACY.value: legacy}


_CATALOGUE = catalogue_by_kind()


@router.get("/catalog")
async def command_catalog() -> dict[str, Any]:
    return {"success": True, "data": {"kinds": _CATALOGUE}}
