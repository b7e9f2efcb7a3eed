"""Commands: validate, store, publish one ``SiteCommand`` per site, and close records from site results.

Invariants:
* nothing is written for a rejected request (every check runs before the record is stored);
* a stored command is either published to every site of its targets, or the agents of the sites it could
  not reach are ``failed`` with the reason (and the caller gets a 502) — never silently half-sent;
* a per-agent status only moves forward and a terminal one never changes (results are idempotent).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from chalicelib.adapters.iot import Publisher
from chalicelib.config import Settings
from chalicelib.domain.approval import Approval
from chalicelib.domain.command import CLOUD_ONLY_PARAMS, AgentOutcome, CommandRecord
from chalicelib.domain.command import MAX_WAIT_S as MAX_WAIT_S  # re-exported: where the service's callers look
from chalicelib.domain.command import CommandRequest as CommandRequest
from chalicelib.domain.token import Principal, Role
from chalicelib.errors import (
    BadRequest,
    CloudError,
    Conflict,
    NotFound,
    PayloadTooLarge,
    StaleWrite,
    UpstreamError,
)
from chalicelib.repositories.agent import AgentRepository
from chalicelib.repositories.command import CommandRepository
from chalicelib.services.agents import AgentService
from chalicelib.services.command_results import ResultsReport, Tally, fit_item, merge_outcome
from chalicelib.services.command_updates import CommandUpdater
from shared.errors import ErrorCode, SharedError
from shared.messages.checks import DEFAULT_TIMEOUT_S, MAX_PAYLOAD_BYTES, MAX_TIMEOUT_S, REQUEST_ID_PATTERN
from shared.messages.enums import CommandHop, CommandStatus
from shared.topics import is_valid_id, site_down

if TYPE_CHECKING:  # pydantic loads when a command is created; a site's results come as msgspec mirrors
    from pydantic import BaseModel

    from shared.messages.structs import AgentResult

log = logging.getLogger(__name__)

_COMMAND_ID_RE = re.compile(REQUEST_ID_PATTERN)

#: An exec command waits this long beyond the process's own timeout before it counts as timed out.
EXEC_TIMEOUT_MARGIN_S = 5.0


#: the route that sets a cloud-only param, for the error a caller gets
_CLOUD_ONLY_ROUTE = {
    "cctv_snapshot": "POST /api/cctv/agents/{agent_id}/cameras/{camera_id}/snapshot",
    "get_logs": "POST /api/agents/{agent_id}/logs",
}
#: what a command record shows instead of a cloud-only param
REDACTED = "(redacted)"


class CommandService:
    def __init__(
        self,
        commands: CommandRepository,
        agents: AgentRepository,
        registry: AgentService,
        publisher: Publisher,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
        on_finished: Callable[[CommandRecord], None] | None = None,
    ) -> None:
        self._commands = commands
        self._agents = agents
        self._registry = registry
        self._publisher = publisher
        self._settings = settings
        self._clock = clock
        self._new_id = new_id
        self._updater = CommandUpdater(commands, clock, on_finished)

    # ------------------------------------------------------------ create

    def create(self, request: CommandRequest, principal: Principal) -> CommandRecord:
        """Store and publish a command. Raises :class:`PublishFailed` (a 502) after marking what failed. The
        caller's role was checked by the route (operator); ``exec`` and the like need an admin."""
        from shared.commands import get_spec, validate_params  # the catalogue: not on a site's results' path

        agent_ids = request.agent_ids
        if request.selector is not None:
            agent_ids = tuple(self._registry.select(request.selector, principal, self._settings.max_targets))
        try:
            spec = get_spec(request.command)
            if spec.admin_only:
                principal.require(Role.ADMIN, f"send {spec.name!r}")
            if spec.lms_only:
                raise BadRequest(f"{spec.name} is sent only by the site's LMS itself (its rotation steps)")
            if spec.shadow_only:
                raise BadRequest(
                    f"{spec.name} is sent by the LMS from the agent's device shadow only; set cameras "
                    "with PUT /api/cctv/agents/{agent_id}/cameras/{camera_id}"
                )
            cloud_only = CLOUD_ONLY_PARAMS.get(spec.name, frozenset())
            named = sorted(cloud_only & set(request.params))
            if named:
                raise BadRequest(
                    f"params.{named[0]}: only the cloud sets it ({_CLOUD_ONLY_ROUTE[spec.name]}), not a caller"
                )
            if not set(request.cloud_params) <= cloud_only:  # a service's mistake, not the caller's: a 500
                raise ValueError(f"{spec.name}: not cloud-only params: {sorted(request.cloud_params)}")
            validated = validate_params(spec.name, {**request.params, **request.cloud_params})
        except SharedError as exc:
            raise CloudError.from_shared(exc) from None

        targets = self._check_targets(agent_ids)
        agents = self._agents.get_many(targets)
        # another site's agent is as unknown to a token scoped to sites as one that does not exist
        unknown = [a for a in targets if a not in agents or not principal.can_see_site(agents[a].site_id)]
        if unknown:
            raise NotFound(
                f"unknown agent(s): {', '.join(unknown)}", code=ErrorCode.UNKNOWN_AGENT, details={"agent_ids": unknown}
            )
        unapproved = [a for a in targets if agents[a].approval is not Approval.APPROVED]
        if unapproved:
            raise Conflict(f"agent(s) not approved: {', '.join(unapproved)}", details={"agent_ids": unapproved})

        now = self._clock()
        command_id = request.command_id or self._new_id()
        params = validated.model_dump(mode="json", exclude_unset=True)
        timeout_s = request.timeout_s or self._default_timeout(validated)
        record = CommandRecord(
            command_id=command_id,
            command=spec.name,
            params=params,
            timeout_s=timeout_s,
            targets=targets,
            site_ids=tuple(sorted({agents[a].site_id for a in targets})),
            results={a: AgentOutcome(site_id=agents[a].site_id, updated_at=now) for a in targets},
            created_by=principal.name,
            created_at=now,
            updated_at=now,
            expires_at=now + self._settings.command_delivery_window_s,
            retain_until=now + self._settings.command_retention_s,
        )
        messages = {site_id: self._site_message(record, site_id) for site_id in record.site_ids}
        redacted = {k: REDACTED if k in cloud_only else v for k, v in params.items()}

        record = self._commands.create(dataclasses.replace(record, params=redacted))
        log.info(
            "command created command_id=%s command=%s agents=%d sites=%d by=%s",
            command_id,
            spec.name,
            len(targets),
            len(record.site_ids),
            principal.name,
            extra={"command_id": command_id},
        )
        failures: dict[str, str] = {}
        sent: dict[str, float] = {}
        for site_id, payload in messages.items():
            try:
                self._publisher.publish(site_down(self._settings.namespace, site_id), payload, qos=1)
            except Exception as exc:  # any publisher failure: the record must say so, never stay half-sent
                failures[site_id] = exc.message if isinstance(exc, CloudError) else f"{type(exc).__name__}: {exc}"
                log.warning(
                    "command %s: publish to site %s failed: %s",
                    command_id,
                    site_id,
                    failures[site_id],
                    extra={"command_id": command_id, "site_id": site_id},
                )
                continue
            sent[site_id] = self._clock()
            log.info(
                "command sent to site command_id=%s site_id=%s agents=%d",
                command_id,
                site_id,
                len(record.targets_of(site_id)),
                extra={"command_id": command_id, "site_id": site_id},
            )
        if failures:
            record = self._mark_unpublished(command_id, failures, sent)
            raise PublishFailed(record, failures)
        return self._mark_sent(record, sent)

    def _mark_sent(self, record: CommandRecord, sent: dict[str, float]) -> CommandRecord:
        """Store when each site's message was published (the ``sent`` hop): one UpdateItem of ``sent_at`` on the
        record just created (conditional on its revision), or, when a site's results were stored first, through the
        updater (read, merge, write). The command is out: a failure here only loses the hop (logged), never fails
        the call (a retry would send the command twice)."""
        try:
            try:
                return self._commands.mark_sent(record, sent)
            except StaleWrite:
                updated = self._updater.update(
                    record.command_id,
                    lambda current, _now: dataclasses.replace(current, sent_at={**sent, **current.sent_at}),
                )
                return updated if updated is not None else record
        except CloudError as exc:
            log.warning(
                "command %s: could not store its sent hop: %s",
                record.command_id,
                exc.message,
                extra={"command_id": record.command_id},
            )
            return dataclasses.replace(record, sent_at={**record.sent_at, **sent})

    def _check_targets(self, agent_ids: Sequence[str]) -> tuple[str, ...]:
        targets = tuple(dict.fromkeys(agent_ids))
        if not targets:
            raise BadRequest("agent_ids: give at least one agent")
        if len(targets) > self._settings.max_targets:
            raise BadRequest(f"agent_ids: at most {self._settings.max_targets} agents per command")
        bad = [a for a in targets if not is_valid_id(a)]
        if bad:
            raise BadRequest(f"agent_ids: invalid agent id(s) {', '.join(map(repr, bad[:10]))}")
        return targets

    @staticmethod
    def _default_timeout(params: BaseModel) -> float:
        from shared.commands import ExecParams

        if isinstance(params, ExecParams):
            return min(params.timeout_s + EXEC_TIMEOUT_MARGIN_S, MAX_TIMEOUT_S)
        return DEFAULT_TIMEOUT_S

    def _site_message(self, record: CommandRecord, site_id: str) -> bytes:
        from pydantic import ValidationError  # a command is built here: command_results never loads pydantic

        from shared.messages import SiteCommand, describe_validation_error, encode

        try:
            message = SiteCommand(
                request_id=record.command_id,
                command=record.command,
                params=record.params,
                timeout_s=record.timeout_s,
                targets=record.targets_of(site_id),
                expires_at=record.expires_at,
            )
        except ValidationError as exc:
            raise BadRequest(f"invalid command: {describe_validation_error(exc)}") from None
        payload = encode(message)
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise PayloadTooLarge(
                f"the command for site {site_id} is {len(payload)} bytes; IoT Core carries at most {MAX_PAYLOAD_BYTES}"
            )
        return payload

    def _mark_unpublished(
        self, command_id: str, failures: dict[str, str], sent: dict[str, float] | None = None
    ) -> CommandRecord:
        summary = "; ".join(f"site {s}: {m}" for s, m in sorted(failures.items()))
        error = f"could not publish to {len(failures)} site(s): {summary}"[:4096]

        def change(record: CommandRecord, now: float) -> CommandRecord | None:
            results = dict(record.results)
            for agent_id, outcome in record.results.items():
                if outcome.site_id in failures and not outcome.status.terminal:
                    results[agent_id] = dataclasses.replace(
                        outcome,
                        status=CommandStatus.FAILED,
                        success=False,
                        error=f"not sent: publish to site {outcome.site_id} failed: {failures[outcome.site_id]}"[:4096],
                        error_code=ErrorCode.INTERNAL.value,
                        updated_at=now,
                        hops={**outcome.hops, CommandHop.STORED: now},
                    )
            return dataclasses.replace(record, results=results, error=error, sent_at={**(sent or {}), **record.sent_at})

        updated = self._updater.update(command_id, change)
        if updated is None:  # vanished (cannot happen short of a manual delete)
            raise UpstreamError(error, details={"command_id": command_id})
        return updated

    # ------------------------------------------------------------ read

    def get(self, command_id: str, principal: Principal) -> CommandRecord:
        record = self._commands.get(command_id) if is_valid_command_id(command_id) else None
        if record is None or not all(principal.can_see_site(s) for s in record.site_ids):
            raise NotFound(f"unknown command {command_id}")
        return record

    def wait(
        self,
        record: CommandRecord,
        timeout_s: float,
        *,
        poll_s: float = 0.1,
        sleep: Callable[[float], None] = time.sleep,
    ) -> CommandRecord:
        """Re-read ``record`` until its aggregate status is terminal or ``timeout_s`` passes (``?wait=`` of the
        API: one consistent read per ``poll_s``; bounded by :data:`MAX_WAIT_S`, below the API function's timeout)."""
        timeout_s = max(0.0, min(timeout_s, MAX_WAIT_S))
        deadline = time.monotonic() + timeout_s
        while not record.status.terminal and time.monotonic() < deadline:
            sleep(poll_s)
            record = self._commands.get(record.command_id) or record
        return record

    # ------------------------------------------------------------ results

    def apply_results(self, site_id: str, results: Iterable[AgentResult]) -> ResultsReport:
        """Apply a site's batch of per-agent results (in order), one read and at most one write per command."""
        by_command: dict[str, list[AgentResult]] = {}
        for result in results:
            by_command.setdefault(result.request_id, []).append(result)

        report = Tally()
        for command_id, batch in by_command.items():
            tally = Tally()

            def change(
                record: CommandRecord, now: float, batch: list[AgentResult] = batch, tally: Tally = tally
            ) -> CommandRecord | None:
                tally.clear()
                outcomes = dict(record.results)
                for result in batch:
                    current = outcomes.get(result.agent_id)
                    if current is None or current.site_id != site_id:
                        tally.ignored += 1
                    elif not current.accepts(result.status):
                        tally.duplicates += 1
                    else:
                        outcomes[result.agent_id] = current = merge_outcome(
                            current, result, now, self._settings.result_data_limit
                        )
                        tally.applied += 1
                        tally.stored[result.agent_id] = current.status
                if not tally.applied:
                    return None
                return dataclasses.replace(record, results=fit_item(record, outcomes))

            if self._updater.update(command_id, change) is None:  # unknown (or expired) command
                tally.clear()
                tally.ignored = len(batch)
                log.info(
                    "results for an unknown command command_id=%s site_id=%s results=%d",
                    command_id,
                    site_id,
                    len(batch),
                    extra={"command_id": command_id, "site_id": site_id},
                )
            for agent_id, status in tally.stored.items():
                log.info(
                    "result stored command_id=%s agent_id=%s status=%s",
                    command_id,
                    agent_id,
                    status.value,
                    extra={"command_id": command_id, "site_id": site_id, "agent_id": agent_id},
                )
            report.add(tally)
        return ResultsReport(report.applied, report.duplicates, report.ignored)


class PublishFailed(UpstreamError):
    """The command was stored but could not be sent to some sites; their agents are marked failed."""

    def __init__(self, record: CommandRecord, failures: dict[str, str]) -> None:
        super().__init__(
            f"command {record.command_id} could not be published to site(s) {', '.join(sorted(failures))}; "
            "their agents are marked failed",
            details={"command_id": record.command_id, "failed_sites": sorted(failures)},
        )
        self.record = record
        self.failures = failures


def is_valid_command_id(command_id: str) -> bool:
    return bool(_COMMAND_ID_RE.match(command_id))
