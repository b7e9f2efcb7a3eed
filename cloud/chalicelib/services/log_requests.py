"""Logs on request: an agent's or an LMS's log records of a range, gzipped into the tenant's media bucket through a
presigned POST, and a download link for whoever may see the site (docs/logs.md).

* An agent's logs: the ``get_logs`` command (through its site, like any command, with the same id as the log
  request) carrying ``upload`` — a form only this service makes, so a caller naming ``upload`` is a 400 and command
  records show it redacted.
* An LMS's logs: a :class:`~shared.messages.LogRequest` on ``site_down(..., LOGS)``.

The object key is ``logs/{site}/agents/{agent}/{request}.log.gz`` or ``logs/{site}/lms/{request}.log.gz``; the form
binds that key, ``application/gzip`` and 1..``max_bytes`` bytes, for :data:`UPLOAD_EXPIRES_S`. The status is read
from the bucket (the object is there: ``uploaded``), the agent's command (an error: ``failed``) and the clock (the
form expired with no object: ``expired``); the download link is a presigned GET of :data:`GET_EXPIRES_S`, handed
to callers whose token sees the site (others get a 404, as for an unknown request). Every check runs before
anything is stored or sent.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from chalicelib.adapters.iot import Publisher
from chalicelib.adapters.media import MediaNotConfigured, MediaStore
from chalicelib.config import Settings
from chalicelib.domain.log_request import LogRequestRecord, LogRequestStatus
from chalicelib.domain.token import Principal
from chalicelib.errors import NotFound
from chalicelib.repositories.command import CommandRepository
from chalicelib.repositories.log_request import LogRequestRepository
from chalicelib.services.agents import AgentService
from chalicelib.services.commands import CommandRequest, CommandService
from chalicelib.services.sites import SiteService
from shared.log_export import CONTENT_TYPE, LogRange, PresignedPost
from shared.messages import LogRequest, encode
from shared.messages.command import CommandStatus
from shared.topics import SiteDown, is_valid_id, site_down

#: the host has this long to start its upload (it starts at once when online)
UPLOAD_EXPIRES_S = 300
#: how long a returned download link stays valid
GET_EXPIRES_S = 900
#: the agent's answer may take this long (reading, compressing and sending up to 20 MiB from a school's uplink); a
#: slower upload that still lands shows as ``uploaded`` all the same (the bucket is read first)
COMMAND_TIMEOUT_S = 120.0
#: without ``since`` nor ``until``: the last hour
DEFAULT_WINDOW_S = 3600.0
COMMAND = "get_logs"


def log_key(site_id: str, agent_id: str | None, request_id: str) -> str:
    who = "lms" if agent_id is None else f"agents/{agent_id}"
    return f"logs/{site_id}/{who}/{request_id}.log.gz"


class LogRequestService:
    def __init__(self, media: MediaStore | None, agents: AgentService, sites: SiteService, commands: CommandService,
                 command_records: CommandRepository, requests: LogRequestRepository, publisher: Publisher,
                 settings: Settings, clock: Callable[[], float] = time.time,
                 new_id: Callable[[], str] = lambda: uuid.uuid4().hex) -> None:
        self._media = media
        self._agents = agents
        self._sites = sites
        self._commands = commands
        self._command_records = command_records
        self._requests = requests
        self._publisher = publisher
        self._settings = settings
        self._clock = clock
        self._new_id = new_id

    # ------------------------------------------------------------ asking

    def request_agent(self, agent_id: str, wanted: LogRange, principal: Principal) -> dict[str, Any]:
        """Send ``get_logs`` with an upload form to the agent (through its site). The route checked the role."""
        agent = self._agents.get(agent_id, principal)  # unknown, or of a site the caller cannot see: 404
        principal.require_sites({agent.site_id})
        record, form = self._prepare(agent.site_id, agent.agent_id, wanted, principal)
        params = record.wanted().model_dump(mode="json", exclude_none=True)
        self._commands.create(  # checks everything (approval, role) before it stores and sends the command
            CommandRequest(command=COMMAND, params=params, agent_ids=(agent.agent_id,), command_id=record.request_id,
                           timeout_s=COMMAND_TIMEOUT_S,
                           cloud_params={"upload": form.model_dump()}),  # only this service sets it; stored redacted
            principal,
        )
        self._requests.create(record)
        return _pending(record)

    def request_site(self, site_id: str, wanted: LogRange, principal: Principal) -> dict[str, Any]:
        """Send a ``log_request`` to the site's LMS."""
        site = self._sites.get(site_id, principal)
        principal.require_sites({site.site_id})
        record, form = self._prepare(site.site_id, None, wanted, principal)
        message = LogRequest(request_id=record.request_id, upload=form, expires_at=record.upload_expires_at,
                             **record.wanted().model_dump())
        self._publisher.publish(site_down(self._settings.namespace, site.site_id, SiteDown.LOGS), encode(message),
                                qos=1)
        self._requests.create(record)
        return _pending(record)

    def _prepare(self, site_id: str, agent_id: str | None, wanted: LogRange,
                 principal: Principal) -> tuple[LogRequestRecord, PresignedPost]:
        if self._media is None:
            raise MediaNotConfigured("logs to the cloud need a media bucket: CLASSTOP_MEDIA_BUCKET is not set")
        now = self._clock()
        if wanted.since is None and wanted.until is None:
            wanted = wanted.model_copy(update={"since": now - DEFAULT_WINDOW_S})
        request_id = self._new_id()
        key = log_key(site_id, agent_id, request_id)
        form = PresignedPost.model_validate(
            self._media.presign_post(key, CONTENT_TYPE, wanted.max_bytes, UPLOAD_EXPIRES_S))
        record = LogRequestRecord(
            request_id=request_id, site_id=site_id, agent_id=agent_id, key=key, since=wanted.since,
            until=wanted.until, level=wanted.level, max_bytes=wanted.max_bytes, created_by=principal.name,
            created_at=now, upload_expires_at=now + UPLOAD_EXPIRES_S,
            retain_until=now + self._settings.command_retention_s,
        )
        return record, form

    # ------------------------------------------------------------ reading

    def get(self, request_id: str, principal: Principal) -> dict[str, Any]:
        """The request, its status and, once uploaded, a download link. Another site's request is a 404."""
        record = self._requests.get(request_id) if is_valid_id(request_id) else None
        if record is None or not principal.can_see_site(record.site_id):
            raise NotFound(f"unknown log request {request_id}")
        return self._describe(record)

    def _describe(self, record: LogRequestRecord) -> dict[str, Any]:
        out = record.to_dict()
        out["status"] = LogRequestStatus.PENDING.value
        media = self._media
        if media is None:
            raise MediaNotConfigured("logs to the cloud need a media bucket: CLASSTOP_MEDIA_BUCKET is not set")
        size = media.size(record.key)
        outcome = self._agent_outcome(record)
        if outcome is not None:
            out["result"] = outcome
        if size is not None:
            out.update(status=LogRequestStatus.UPLOADED.value, size=size, download_expires_in=GET_EXPIRES_S,
                       download_url=media.presign_get(record.key, GET_EXPIRES_S))
        elif outcome is not None and outcome["status"] in {s.value for s in CommandStatus if s.terminal}:
            out["status"] = LogRequestStatus.FAILED.value
            out["error"] = outcome.get("error") or "the agent answered but no object is in the bucket"
        elif self._clock() > record.upload_expires_at:
            out["status"] = LogRequestStatus.EXPIRED.value
            out["error"] = ("the upload form expired with no object: the host did not get the request in time, or "
                            "could not upload (its log and audit say why)")
        return out

    def _agent_outcome(self, record: LogRequestRecord) -> dict[str, Any] | None:
        if record.agent_id is None:
            return None
        command = self._command_records.get(record.request_id)
        if command is None or record.agent_id not in command.results:
            return None
        outcome = command.results[record.agent_id]
        return {"command_id": command.command_id, "status": outcome.status.value, "data": outcome.data,
                "error": outcome.error, "error_code": outcome.error_code}


def _pending(record: LogRequestRecord) -> dict[str, Any]:
    """A request just made: nothing can be in the bucket yet."""
    return {**record.to_dict(), "status": LogRequestStatus.PENDING.value}
