"""The API's command service: authorise, audit, queue for offline agents, dispatch (one agent or a batch).

* ``exec`` (every ``admin_only`` command of the catalogue) needs the admin role: :class:`AccessError`.
* Mutating and admin-only commands are written to the audit log before they are sent (``pending``) and
  completed with their terminal status. Read-only commands (``ping``, ``get_*``) are not audited.
* ``queue_if_offline``: a command to an agent the registry knows but shows offline is stored in the
  offline queue (:mod:`edge.lms.commands.offline_queue`) with a TTL instead of failing with ``agent_offline``.
* Batches resolve their target (ids, group, tag, all) through :class:`edge.lms.agents.groups.Groups` and keep at
  most ``concurrency`` commands in flight; every agent gets its own result.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from edge.lms.agents import Groups, Registry
from edge.lms.auth import Audit, Principal, Role
from edge.lms.cctv import CctvLog
from edge.lms.commands.batch_window import BatchWindow
from edge.lms.commands.offline_queue import CommandQueue
from edge.lms.commands.router import Router
from edge.lms.commands.ticket import Ticket, result_dict
from edge.lms.errors import LmsError
from shared.commands import CATALOGUE, validate_params
from shared.errors import CommandError
from shared.messages import Presence, Response

#: Params never copied into the audit log (may hold secrets).
_SECRET_PARAMS = ("env", "stdin", "password")


class AccessError(LmsError):
    """The caller's role does not allow this command (403)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 403)


@dataclass
class Outcome:
    """One command's outcome: answered/ended (``ticket`` + ``response``), or ``queued`` (the queue row)."""

    ticket: Ticket | None = None
    response: Response | None = None
    queued: dict[str, Any] | None = None


@dataclass(frozen=True)
class Target:
    ids: list[str] | None = None
    group: str | None = None
    tag: str | None = None
    all: bool = False

    def describe(self) -> str:
        if self.ids is not None:
            return f"ids:{len(self.ids)}"
        if self.group is not None:
            return f"group:{self.group}"
        if self.tag is not None:
            return f"tag:{self.tag}"
        return "all"


def audited(command: str) -> bool:
    spec = CATALOGUE.get(command)
    return spec is not None and (spec.mutating or spec.admin_only)


def audit_params(params: dict[str, Any]) -> dict[str, Any]:
    return {k: ("<hidden>" if k in _SECRET_PARAMS else v) for k, v in params.items()}


class CommandService:
    def __init__(
        self,
        router: Router,
        registry: Registry,
        audit: Audit,
        groups: Groups,
        queue: CommandQueue,
        cctv_log: CctvLog,
        *,
        default_ttl_s: float = 86400.0,
    ) -> None:
        self.router = router
        self.registry = registry
        self.audit = audit
        self.groups = groups
        self.queue = queue
        self.cctv_log = cctv_log
        self.default_ttl_s = default_ttl_s

    def authorize(self, principal: Principal, command: str, target: str = "") -> None:
        """Refuse admin-only commands to lower roles (the refusal is audited too)."""
        spec = CATALOGUE.get(command)
        if spec is not None and spec.lms_only:  # the router refuses it too, whatever the path (queue, batch)
            self.audit.record(principal.actor, principal.role.label, f"command:{command}", target, "forbidden")
            raise AccessError(f"{command} is sent only by the LMS itself (its rotation steps: docs/operations.md), "
                              "never on a caller's behalf")
        if spec is not None and spec.shadow_only:  # the router refuses it too, whatever the path (queue, batch)
            self.audit.record(principal.actor, principal.role.label, f"command:{command}", target, "forbidden")
            raise AccessError(f"{command} is sent only from the agent's device shadow (set cameras in the cloud API, "
                              "or on site with cctv_add_camera)")
        if spec is not None and spec.admin_only and principal.role < Role.ADMIN:
            self.audit.record(principal.actor, principal.role.label, f"command:{command}", target, "forbidden")
            raise AccessError(f"{command} needs the admin role; token {principal.name!r} is {principal.role.label}")

    async def run(
        self,
        principal: Principal,
        agent_id: str,
        command: str,
        params: dict[str, Any],
        timeout_s: float | None = None,
        *,
        queue_if_offline: bool = False,
        ttl_s: float | None = None,
    ) -> Outcome:
        self.authorize(principal, command, agent_id)
        audit_id = None
        if audited(command):
            audit_id = self.audit.record(
                principal.actor, principal.role.label, f"command:{command}", agent_id, "pending", audit_params(params)
            )
        if queue_if_offline and self.router_presence(agent_id) is Presence.OFFLINE:
            try:
                clean = validate_params(command, params).model_dump(mode="json", exclude_unset=True)
            except CommandError as exc:
                outcome = self._refused(agent_id, command, params, exc)
            else:
                row = self.queue.enqueue(
                    agent_id,
                    command,
                    clean,
                    timeout_s=timeout_s,
                    ttl_s=ttl_s or self.default_ttl_s,
                    actor=principal.actor,
                )
                outcome = Outcome(queued=row)
                if audit_id is not None:
                    self.audit.complete(audit_id, f"queued #{row['id']}")
                return outcome
        else:
            ticket = self.router.dispatch(agent_id, command, params, timeout_s, source="api")
            outcome = Outcome(ticket, await ticket.wait())
        if audit_id is not None and outcome.response is not None:
            self.audit.complete(audit_id, outcome.response.status.value)
            if command.startswith("cctv_") and outcome.ticket is not None and outcome.ticket.delivered:
                camera = params.get("camera_id")
                self.cctv_log.add(
                    agent_id, command.removeprefix("cctv_"), None if camera is None else str(camera),
                    {"status": outcome.response.status.value, "error": outcome.response.error, "by": principal.actor},
                )  # fmt: skip
        return outcome

    def router_presence(self, agent_id: str) -> Presence | None:
        return self.registry.presence(agent_id)

    def _refused(self, agent_id: str, command: str, params: dict[str, Any], _exc: CommandError) -> Outcome:
        ticket = self.router.dispatch(agent_id, command, params, source="api")  # ends at once with the same error
        assert ticket.future.done()
        return Outcome(ticket, ticket.future.result())

    async def batch(
        self,
        principal: Principal,
        command: str,
        params: dict[str, Any],
        timeout_s: float | None,
        target: Target,
        *,
        concurrency: int,
        queue_if_offline: bool = False,
        ttl_s: float | None = None,
    ) -> dict[str, Any]:
        self.authorize(principal, command, target.describe())
        agent_ids = self.groups.resolve(ids=target.ids, group=target.group, tag=target.tag, all_agents=target.all)
        audit_id = self.audit.record(
            principal.actor,
            principal.role.label,
            f"batch:{command}",
            target.describe(),
            "pending",
            {"params": audit_params(params), "agents": len(agent_ids)},
        )
        results: dict[str, dict[str, Any]] = {}
        to_send: list[str] = []
        clean: dict[str, Any] | None = None
        for agent_id in agent_ids:
            if queue_if_offline and self.router_presence(agent_id) is Presence.OFFLINE:
                if clean is None:
                    try:
                        clean = validate_params(command, params).model_dump(mode="json", exclude_unset=True)
                    except CommandError:
                        clean = None
                if clean is not None:
                    row = self.queue.enqueue(
                        agent_id, command, clean, timeout_s=timeout_s, ttl_s=ttl_s or self.default_ttl_s,
                        actor=principal.actor,
                    )  # fmt: skip
                    results[agent_id] = {"success": True, "status": "queued", "queue_id": row["id"],
                                         "expires_at": row["expires_at"]}  # fmt: skip
                    continue
            to_send.append(agent_id)
        window = BatchWindow(self.router, to_send, command, params, timeout_s, concurrency, asyncio.get_running_loop())
        for agent_id, ticket in (await window.run()).items():
            results[agent_id] = result_dict(ticket.request_id, ticket.future.result())
        ordered = {a: results[a] for a in agent_ids}
        succeeded = sum(1 for r in ordered.values() if r["success"])
        self.audit.complete(audit_id, f"{succeeded}/{len(ordered)} succeeded")
        return {
            "command": command,
            "target": target.describe(),
            "count": len(ordered),
            "succeeded": succeeded,
            "failed": len(ordered) - succeeded,
            "results": ordered,
        }
