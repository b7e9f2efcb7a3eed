"""The ClassTop data commands (``get_courses``, ``set_courses``, ``get_schedule``, ``set_schedule``,
``sync_classtop_data``) and ``get_processes``: name -> handler, merged into the agent's command table.

Return shapes follow ClassTop's sync API: ``{"courses": [...]}`` and ``{"schedule_entries": [...]}``; the
setters and the sync answer ``{"changed", "version", "hash"}`` (plus ``skipped`` rows for an import).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from edge.agent.classtop import ClassTopError, ClassTopStore
from edge.agent.commands import CommandFailed, Handler
from edge.agent.processes import ProcessSampler
from shared.errors import ErrorCode
from shared.messages.structs import Command

if TYPE_CHECKING:  # the parameter models load pydantic (on the first command)
    from pydantic import BaseModel

    from shared.commands import GetProcessesParams, SetCoursesParams, SetScheduleParams

log = logging.getLogger(__name__)


class ClassTopCommands:
    def __init__(
        self,
        store: ClassTopStore,
        *,
        import_path: Path | None,
        on_change: Callable[[], None],
        send_snapshot: Callable[[], None],
        processes: ProcessSampler,
    ) -> None:
        self.store = store
        self.import_path = import_path
        self.on_change = on_change
        self.send_snapshot = send_snapshot
        self.processes = processes

    def table(self) -> dict[str, Handler]:
        return {
            "get_courses": self.get_courses,
            "set_courses": self.set_courses,
            "get_schedule": self.get_schedule,
            "set_schedule": self.set_schedule,
            "sync_classtop_data": self.sync_classtop_data,
            "get_processes": self.get_processes,
        }

    def get_courses(self, _cmd: Command, _params: BaseModel) -> dict[str, Any]:
        return {"courses": [c.model_dump(mode="json") for c in self.store.snapshot().courses]}

    def get_schedule(self, _cmd: Command, _params: BaseModel) -> dict[str, Any]:
        return {"schedule_entries": [e.model_dump(mode="json") for e in self.store.snapshot().schedule_entries]}

    def set_courses(self, cmd: Command, params: BaseModel) -> dict[str, Any]:
        courses = cast("SetCoursesParams", params).courses
        return self._change(cmd, lambda: self.store.set_courses(courses, source=f"set_courses {cmd.request_id}"))

    def set_schedule(self, cmd: Command, params: BaseModel) -> dict[str, Any]:
        entries = cast("SetScheduleParams", params).schedule_entries
        return self._change(
            cmd, lambda: self.store.set_schedule(entries, source=f"set_schedule {cmd.request_id}")
        )

    def sync_classtop_data(self, cmd: Command, _params: BaseModel) -> dict[str, Any]:
        """Re-import the configured source (if any), then send a snapshot now."""
        skipped: list[str] = []
        if self.import_path is not None:
            from edge.agent.classtop_import import ImportFailed, import_classtop  # rarely used: loaded on demand

            try:
                result = import_classtop(self.import_path)
            except ImportFailed as exc:
                raise CommandFailed(f"import failed: {exc}", code=ErrorCode.EXEC_FAILED) from None
            skipped = result.skipped
            answer = self._change(
                cmd, lambda: self.store.import_data(result.data, source=result.source, force=True), notify=False
            )
        else:
            answer = self._answer(False)
        self.send_snapshot()
        return {**answer, "imported": self.import_path is not None, "skipped": skipped[:100]}

    def get_processes(self, _cmd: Command, params: BaseModel) -> dict[str, Any]:
        return self.processes.sample(cast("GetProcessesParams", params).top)

    # ------------------------------------------------------------ helpers

    def _change(self, cmd: Command, apply: Callable[[], bool], *, notify: bool = True) -> dict[str, Any]:
        try:
            changed = apply()
        except ClassTopError as exc:
            raise CommandFailed(str(exc), code=ErrorCode.INVALID_PARAMS) from None
        except OSError as exc:
            log.error("could not save the ClassTop data: %s", exc)
            raise CommandFailed(f"could not save: {exc.strerror or exc}", code=ErrorCode.INTERNAL) from None
        log.info("%s request_id=%s changed=%s", cmd.command, cmd.request_id, changed)
        if changed and notify:
            self.on_change()
        return self._answer(changed)

    def _answer(self, changed: bool) -> dict[str, Any]:
        snapshot = self.store.current()
        return {"changed": changed, "version": snapshot.version, "hash": snapshot.hash}
