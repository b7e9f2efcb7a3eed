"""Commands as the LMS API takes them (one request: ``POST /api/clients/{uuid}/command``, also served by the fast
lane; the shape a batch shares), and how a request is run."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from edge.lms.auth import Principal
from edge.lms.commands import CommandService, Outcome
from edge.lms.legacy.protocol import CAMERA_COMMANDS as CLASSTOP_ONLY_COMMANDS
from shared.commands import CATALOGUE, get_spec, validate_params
from shared.messages.command import COMMAND_NAME_PATTERN, MAX_TIMEOUT_S

MAX_QUEUE_TTL_S = 30 * 86400.0
#: Parameters only commands from the cloud carry: ``cctv_snapshot``'s ``upload_url`` makes the agent PUT the JPEG
#: there, ``get_logs``'s ``upload`` makes it POST its logs there (presigned URLs of the tenant's bucket); chosen on
#: site they would reach anything on the agent's LAN, or carry its logs anywhere. Name -> what comes back instead.
CLOUD_ONLY_PARAMS = {"cctv_snapshot": ("upload_url",), "get_logs": ("upload",)}
_ON_SITE = {"cctv_snapshot": "the JPEG comes back in the answer", "get_logs": "the lines come back in the answer"}


def check_command(command: str, params: dict[str, Any]) -> None:
    """Refuse (:class:`CommandError`) a command no target could run: not an agent's (``shared.commands``) nor a
    ClassTop client's, or an agent's with params it does not take. A batch checks it once, before any target."""
    if command in CATALOGUE:
        validate_params(command, params)
    elif command not in CLASSTOP_ONLY_COMMANDS:
        get_spec(command)  # raises: unknown command


def check_on_site_params(command: str, params: dict[str, Any]) -> None:
    """Refuse (``ValueError``) parameters an on-site command may not set."""
    for name in CLOUD_ONLY_PARAMS.get(command, ()):
        if name in params:
            raise ValueError(f"params.{name} of {command} is set by the cloud only (it sends the tenant's presigned "
                             f"URLs); on site, leave it out and {_ON_SITE[command]}")  # fmt: skip


class OnSiteCommand(BaseModel):
    """A command as the LMS API takes it: the cloud-only parameters are refused (422)."""

    command: str
    params: dict[str, Any]

    @model_validator(mode="after")
    def _on_site(self) -> Self:
        check_on_site_params(self.command, self.params)
        return self


class CommandRequest(OnSiteCommand):
    """``POST /api/clients/{uuid}/command`` body."""

    model_config = ConfigDict(extra="forbid")

    command: str = Field(min_length=1, max_length=64, description=f"a catalogue command ({COMMAND_NAME_PATTERN})")
    params: dict[str, Any] = Field(default_factory=dict, description="the command's parameters (an object)")
    timeout_s: float | None = Field(default=None, gt=0, le=MAX_TIMEOUT_S, description="default: the LMS's")
    queue_if_offline: StrictBool = Field(
        default=False, description="agent offline: queue the command (202) and deliver it when the agent returns"
    )
    queue_ttl_s: float | None = Field(
        default=None, gt=0, le=MAX_QUEUE_TTL_S, description="how long a queued command waits (default: the LMS's)"
    )


def run_request(
    commands: CommandService, principal: Principal, agent_id: str, body: CommandRequest
) -> Awaitable[Outcome]:
    """Run one command request through the command service (which authorises, audits and may queue it)."""
    return commands.run(
        principal, agent_id, body.command, body.params, body.timeout_s, queue_if_offline=body.queue_if_offline,
        ttl_s=body.queue_ttl_s,
    )  # fmt: skip
