"""The cloud app's scheduled functions (``@app.schedule``: in AWS an EventBridge rule invokes each Lambda on its
rate) run by the local cloud on the same rate, or on a shorter one a test asks for.

Today that is the command sweeper (``expire_commands``, every 5 minutes): without it, a command whose site never
reported would stay ``pending`` in the twin for good.
"""

from __future__ import annotations

import importlib
import logging
import time
from typing import Any

from shared.periodic import Periodic

log = logging.getLogger(__name__)

_UNIT_S = {"MINUTES": 60.0, "HOURS": 3600.0, "DAYS": 86400.0}


class ScheduleError(Exception):
    """A scheduled function the twin cannot run (an expression other than ``rate(...)``, a missing handler)."""


def rate_s(expression: object) -> float:
    """Seconds between runs of a Chalice ``Rate`` (the only kind the app uses; ``cron(...)`` is refused)."""
    value, unit = getattr(expression, "value", None), getattr(expression, "unit", None)
    if not isinstance(value, int) or unit not in _UNIT_S:
        raise ScheduleError(f"unsupported schedule {expression!r}: the twin runs rate(...) schedules only")
    return value * _UNIT_S[str(unit)]


def _text(expression: object) -> str:
    to_string = getattr(expression, "to_string", None)
    return str(to_string()) if callable(to_string) else str(expression)


class Schedules:
    """One :class:`Periodic` per scheduled function of the Chalice ``app``."""

    def __init__(self, app: Any, every_s: float | None = None) -> None:
        self._jobs: list[Periodic] = []
        for source in app.event_sources:
            expression = getattr(source, "schedule_expression", None)
            if expression is None:
                continue  # not a schedule (SNS, SQS... sources: none today)
            module_name, _, attribute = source.handler_string.rpartition(".")
            handler = getattr(importlib.import_module(module_name), attribute, None)
            if not callable(handler):
                raise ScheduleError(f"the scheduled handler {source.handler_string} is not callable")
            period = every_s if every_s is not None else rate_s(expression)
            self._jobs.append(Periodic(f"schedule-{source.name}", self._runner(source.name, handler), period,
                                       run_at_start=False))  # fmt: skip
            log.info("schedule %s every %g s (%s in the template)", source.name, period, _text(expression))

    @staticmethod
    def _runner(name: str, handler: Any) -> Any:
        def run() -> None:
            # what EventBridge sends a scheduled Lambda (Chalice reads every field into its CloudWatchEvent)
            event = {"version": "0", "id": f"twin-{time.time():.0f}", "detail-type": "Scheduled Event",
                     "source": "aws.events", "account": "000000000000", "region": "us-east-1", "resources": [],
                     "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "detail": {}}  # fmt: skip
            result = handler(event, None)
            log.info("schedule %s: %s", name, result)

        return run

    def start(self) -> Schedules:
        for job in self._jobs:
            job.start()
        return self

    def stop(self) -> None:
        for job in self._jobs:
            job.stop()
