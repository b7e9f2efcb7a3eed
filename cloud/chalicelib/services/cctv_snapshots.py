"""CCTV snapshots to the cloud: an agent PUTs one camera's JPEG to a presigned URL of the tenant's media bucket.

Only this service sets ``cctv_snapshot``'s ``upload_url`` (a caller's command naming one is a 400: the agent would
PUT to any URL), and the command record keeps it redacted: the URL is a credential only the agent sees.

The object key is ``snapshots/{site}/{agent}/{camera}/{YYYYmmddTHHMMSSmmmZ}.jpg``. Everything that can fail before
the command is sent (the agent, the caller's rights, the camera id, signing both URLs) is done first, so a
refused request stores no command.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chalicelib.adapters.media import MediaNotConfigured, MediaStore
from chalicelib.domain.token import Principal
from chalicelib.errors import CloudError
from chalicelib.services.agents import AgentService
from chalicelib.services.commands import CommandRequest, CommandService
from shared.commands import validate_params
from shared.errors import SharedError

#: the agent has this long to start its PUT (it takes the picture at once)
PUT_EXPIRES_S = 300
#: how long the returned download URL stays valid, unless the request says otherwise
GET_EXPIRES_S = 3600
CONTENT_TYPE = "image/jpeg"
COMMAND = "cctv_snapshot"


@dataclass(frozen=True, slots=True)
class SnapshotRequested:
    command_id: str
    key: str
    get_url: str
    upload_expires_in: int = PUT_EXPIRES_S
    get_expires_in: int = GET_EXPIRES_S

    def to_dict(self) -> dict[str, Any]:
        return {"command_id": self.command_id, "key": self.key, "get_url": self.get_url,
                "upload_expires_in": self.upload_expires_in, "get_expires_in": self.get_expires_in}


def snapshot_key(site_id: str, agent_id: str, camera_id: str, at: float) -> str:
    stamp = datetime.fromtimestamp(at, UTC)
    return (f"snapshots/{site_id}/{agent_id}/{camera_id}/"
            f"{stamp:%Y%m%dT%H%M%S}{stamp.microsecond // 1000:03d}Z.jpg")


class CctvSnapshotService:
    def __init__(self, media: MediaStore | None, agents: AgentService, commands: CommandService,
                 clock: Callable[[], float] = time.time) -> None:
        self._media = media
        self._agents = agents
        self._commands = commands
        self._clock = clock

    def request(self, agent_id: str, camera_id: str, principal: Principal,
                get_expires_s: int = GET_EXPIRES_S) -> SnapshotRequested:
        """Sign the URLs and send ``cctv_snapshot {camera_id, upload_url}`` to the agent (through its site). The
        caller's role was checked by the route (operator)."""
        agent = self._agents.get(agent_id, principal)  # unknown, or of a site the caller cannot see: 404
        principal.require_sites({agent.site_id})
        try:
            validate_params(COMMAND, {"camera_id": camera_id})
        except SharedError as exc:
            raise CloudError.from_shared(exc) from None
        if self._media is None:
            raise MediaNotConfigured("snapshots to the cloud need a media bucket: CLASSTOP_MEDIA_BUCKET is not set")
        key = snapshot_key(agent.site_id, agent.agent_id, camera_id, self._clock())
        upload_url = self._media.presign_put(key, CONTENT_TYPE, PUT_EXPIRES_S)
        get_url = self._media.presign_get(key, get_expires_s)
        record = self._commands.create(
            CommandRequest(command=COMMAND, params={"camera_id": camera_id}, agent_ids=(agent.agent_id,),
                           cloud_params={"upload_url": upload_url}),  # only this service sets it; stored redacted
            principal,
        )
        return SnapshotRequested(record.command_id, key, get_url, PUT_EXPIRES_S, get_expires_s)
