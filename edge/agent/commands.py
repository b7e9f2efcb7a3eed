"""What each command does on this agent: name -> handler.

A handler gets the decoded :class:`Command` and its validated params, and returns the response ``data``
(or a :class:`~concurrent.futures.Future` of it, for commands that run on the worker pool), or raises
:class:`CommandFailed` / :class:`shared.errors.CommandError` to answer ``success: false``.

Implemented: the five settings commands (docs/seeds.md#commands: ``get_all_settings``, ``get_setting``,
``set_setting``, ``update_settings_batch``, ``refresh_state``, with ClassTop's return shapes), ``exec``,
``ping``, ``get_info``, ``get_metrics`` and ``get_logs`` (the ClassTop data commands and ``get_processes``
are in :mod:`edge.agent.classtop_commands`). ``exec`` reports ``queued``/``running`` through
``report_state``. The ``cctv_*`` commands go to the camera manager (:mod:`edge.agent.camera`) when
``[camera] enabled = true``, and answer ``not_supported`` otherwise; the slow ones (probing devices,
cleanup) run on the worker pool.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, cast

from edge.agent import __version__
from edge.agent.camera.errors import CameraError
from edge.agent.exec_policy import ExecPlan
from edge.agent.executor import Executor
from edge.agent.inventory import inventory
from edge.agent.logfile import LogFile
from edge.agent.metrics import MetricsSampler
from edge.agent.settings import SettingsError, SettingsStore
from edge.agent.workers import PoolFull, WorkerPool
from shared.errors import CommandError, ErrorCode
from shared.messages.enums import CommandStatus
from shared.messages.structs import COMMAND_CATEGORIES, Command, as_dict

if TYPE_CHECKING:  # the parameter models load pydantic: on the first command (shared.commands.validate_params)
    from pydantic import BaseModel

    from edge.agent.camera.manager import CameraManager
    from shared.commands import ExecParams, GetLogsParams, GetSettingParams, SetSettingParams, UpdateSettingsBatchParams

log = logging.getLogger(__name__)

Handler = Callable[[Command, "BaseModel"], Any]
CCTV_DISABLED = "camera support is not enabled on this agent"
CCTV_SLOW = frozenset(
    {"cctv_detect_cameras", "cctv_add_camera", "cctv_get_camera_resolutions", "cctv_cleanup_storage", "cctv_snapshot",
     "cctv_apply_config"}
)


class CommandFailed(CommandError):
    """A command ran (or tried to) and failed; ``data`` goes back with the error (e.g. exec output)."""

    def __init__(self, message: str, *, code: ErrorCode, data: Any = None) -> None:
        super().__init__(message, code=code)
        self.data = data


class AgentCommands:
    """The command handlers of one agent, wired to its parts."""

    def __init__(
        self,
        *,
        agent_id: str,
        store: SettingsStore,
        publish_state: Callable[[], None],
        executor: Executor,
        pool: WorkerPool,
        sampler: MetricsSampler,
        logfile: LogFile | None,
        report_state: Callable[[Command, CommandStatus], None] | None = None,
        cameras: CameraManager | None = None,
    ) -> None:
        self.cameras = cameras
        self.report_state = report_state or (lambda _cmd, _status: None)
        self.agent_id = agent_id
        self.store = store
        self.publish_state = publish_state
        self.executor = executor
        self.pool = pool
        self.sampler = sampler
        self.logfile = logfile

    def table(self) -> dict[str, Handler]:
        handlers: dict[str, Handler] = {
            "get_all_settings": self.get_all_settings,
            "get_setting": self.get_setting,
            "set_setting": self.set_setting,
            "update_settings_batch": self.update_settings_batch,
            "refresh_state": self.refresh_state,
            "exec": self.exec,
            "ping": self.ping,
            "get_info": self.get_info,
            "get_metrics": self.get_metrics,
            "get_logs": self.get_logs,
        }
        routes = self.cameras.routes() if self.cameras is not None else {}
        for name, category in COMMAND_CATEGORIES.items():
            if category == "cctv":
                route = routes.get(name)
                handlers[name] = self._cctv(route, name in CCTV_SLOW) if route else self.cctv_not_supported
        return handlers

    # ------------------------------------------------------------ settings (docs/seeds.md#commands)

    def get_all_settings(self, _cmd: Command, _params: BaseModel) -> dict[str, str]:
        return self.store.all()

    def get_setting(self, _cmd: Command, params: BaseModel) -> str | None:
        return self.store.get(cast("GetSettingParams", params).key)

    def set_setting(self, cmd: Command, params: BaseModel) -> dict[str, bool]:
        p = cast("SetSettingParams", params)
        return self._change(cmd, {p.key: p.value})

    def update_settings_batch(self, cmd: Command, params: BaseModel) -> dict[str, bool]:
        return self._change(cmd, cast("UpdateSettingsBatchParams", params).settings)

    def _change(self, cmd: Command, changes: dict[str, str]) -> dict[str, bool]:
        try:
            changed = self.store.update(changes)
        except SettingsError as exc:
            raise CommandFailed(str(exc), code=ErrorCode.INVALID_PARAMS) from None
        except OSError as exc:
            log.error("could not save settings: %s", exc)
            raise CommandFailed(
                f"could not save settings: {exc.strerror or exc}", code=ErrorCode.INTERNAL
            ) from None
        log.info("%s request_id=%s keys=%s changed=%s", cmd.command, cmd.request_id, sorted(changes), changed)
        if changed:
            self.publish_state()
        return {"success": True}

    def refresh_state(self, _cmd: Command, _params: BaseModel) -> dict[str, bool]:
        self.publish_state()
        return {"success": True}

    # ------------------------------------------------------------ exec

    def exec(self, cmd: Command, params: BaseModel) -> Future[dict[str, Any]]:
        plan = self.executor.plan(cast("ExecParams", params))  # policy: raises rejected_by_policy
        try:
            return self.pool.submit(
                lambda: self._run(cmd, plan), on_queued=lambda: self.report_state(cmd, CommandStatus.QUEUED)
            )
        except PoolFull as exc:
            raise self.busy(exc) from None

    def _run(self, cmd: Command, plan: ExecPlan) -> dict[str, Any]:
        self.report_state(cmd, CommandStatus.RUNNING)
        log.info("exec request_id=%s command_id=%s starting: %s", cmd.request_id, cmd.command_id,
                 plan.command_line[:500], extra={"command_id": cmd.command_id})
        result = self.executor.run(plan)
        data = result.to_data()
        log.info(
            "exec request_id=%s command_id=%s exit_code=%s timed_out=%s duration_ms=%d",
            cmd.request_id,
            cmd.command_id,
            result.exit_code,
            result.timed_out,
            result.duration_ms,
            extra={"command_id": cmd.command_id},
        )
        if result.timed_out:
            raise CommandFailed(f"timed out after {plan.timeout_s:g} s", code=ErrorCode.TIMEOUT, data=data)
        if result.aborted:
            raise CommandFailed("killed: the agent is stopping", code=ErrorCode.EXEC_FAILED, data=data)
        if result.exit_code != 0:
            raise CommandFailed(f"exit code {result.exit_code}", code=ErrorCode.EXEC_FAILED, data=data)
        return data

    def busy(self, exc: PoolFull) -> CommandFailed:
        """The ``busy`` answer (nothing ran); its data tells the LMS how many commands this agent runs at once
        (``slots``), so that it paces what it sends (docs/architecture.md#delivery-of-commands-and-results)."""
        return CommandFailed(str(exc), code=ErrorCode.BUSY, data={"slots": self.pool.size})

    # ------------------------------------------------------------ system

    def ping(self, _cmd: Command, _params: BaseModel) -> dict[str, Any]:
        return {"pong": True, "timestamp": time.time(), "agent_id": self.agent_id, "version": __version__}

    def get_info(self, _cmd: Command, _params: BaseModel) -> dict[str, Any]:
        info = inventory(self.agent_id)
        info["exec_mode"] = self.executor.policy.mode.value
        info["commands"] = sorted(n for n, c in COMMAND_CATEGORIES.items() if c != "cctv")
        info["cctv"] = self.cameras is not None
        return info

    def get_metrics(self, _cmd: Command, _params: BaseModel) -> dict[str, Any]:
        return as_dict(self.sampler.sample())

    def get_logs(self, cmd: Command, params: BaseModel) -> dict[str, Any] | Future[dict[str, Any]]:
        if self.logfile is None:
            raise CommandFailed("this agent does not log to a file", code=ErrorCode.NOT_SUPPORTED)
        p = cast("GetLogsParams", params)
        if p.upload is None and p.since is None and p.until is None:
            return self.logfile.tail(p.lines, p.level)
        logfile = self.logfile
        if p.upload is None:  # a range, inline
            return logfile.lines_between(p, p.lines)
        upload = p.upload
        log.info("get_logs request_id=%s: uploading %s..%s level>=%s (at most %d bytes gzip)", cmd.request_id,
                 p.since, p.until, p.level or "any", p.max_bytes)

        def run() -> dict[str, Any]:
            from shared.log_export import LogUploadError, export_and_upload  # rare: loads pydantic

            try:
                return export_and_upload(logfile.files(), p, upload)
            except LogUploadError as exc:
                raise CommandFailed(exc.message, code=exc.code) from None

        try:
            return self.pool.submit(run)
        except PoolFull as exc:
            raise self.busy(exc) from None

    # ------------------------------------------------------------ cctv

    def cctv_not_supported(self, _cmd: Command, _params: BaseModel) -> Any:
        raise CommandFailed(CCTV_DISABLED, code=ErrorCode.NOT_SUPPORTED)

    def _cctv(self, route: Callable[[BaseModel], Any], slow: bool) -> Handler:
        """A handler calling the camera manager; its :class:`CameraError` becomes the response's error."""

        def call(params: BaseModel) -> Any:
            try:
                return route(params)
            except CameraError as exc:
                raise CommandFailed(exc.message, code=exc.code) from None

        def handler(_cmd: Command, params: BaseModel) -> Any:
            if not slow:
                return call(params)
            try:
                return self.pool.submit(lambda: call(params))
            except PoolFull as exc:
                raise self.busy(exc) from None

        return handler
