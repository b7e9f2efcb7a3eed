"""The local twin's supervisor (restart with backoff; held parts left down) and its scheduled functions (the cloud
app's ``@app.schedule`` functions called with the event EventBridge would send, on the template's rate)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from chalice.app import Chalice, Cron, Rate

from infra.local.schedules import ScheduleError, Schedules, rate_s
from infra.local.supervisor import Supervisor


class Part:
    def __init__(self, fail_restarts: int = 0) -> None:
        self.up = True
        self.starts = 0
        self.fail_restarts = fail_restarts

    def restart(self) -> None:
        if self.fail_restarts:
            self.fail_restarts -= 1
            raise OSError("port in use")
        self.starts += 1
        self.up = True


def wait(predicate: Any, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_part_that_dies_is_restarted_and_counted() -> None:
    part = Part()
    sup = Supervisor(backoff_first_s=0.01, poll_s=0.005)
    sup.watch("lms", lambda: part.up, part.restart)
    sup.start()
    try:
        part.up = False
        wait(lambda: sup.restarts("lms") == 1)
        assert part.up and part.starts == 1
        assert [r.name for r in sup.history] == ["lms"]
    finally:
        sup.stop()


def test_a_failed_restart_is_tried_again_with_a_longer_wait() -> None:
    part = Part(fail_restarts=2)
    sup = Supervisor(backoff_first_s=0.01, backoff_max_s=0.05, poll_s=0.005)
    sup.watch("agent", lambda: part.up, part.restart)
    sup.start()
    try:
        part.up = False
        wait(lambda: sup.restarts("agent") == 1)
        assert part.starts == 1 and part.fail_restarts == 0
    finally:
        sup.stop()


def test_a_held_part_stays_down_until_released() -> None:
    part = Part()
    sup = Supervisor(backoff_first_s=0.01, poll_s=0.005)
    sup.watch("broker", lambda: part.up, part.restart)
    sup.start()
    try:
        sup.hold("broker")
        part.up = False
        time.sleep(0.2)
        assert sup.restarts("broker") == 0 and not part.up
        sup.release("broker")
        wait(lambda: sup.restarts("broker") == 1)
    finally:
        sup.stop()


def test_schedules_call_each_scheduled_function_with_an_eventbridge_event() -> None:
    app = Chalice("t")
    seen: list[Any] = []
    ran = threading.Event()

    @app.schedule(Rate(5, unit=Rate.MINUTES), name="sweep")
    def sweep(event: Any) -> dict[str, bool]:
        seen.append(event)
        ran.set()
        return {"ok": True}

    import sys
    import types

    module = types.ModuleType("twin_schedule_test_app")
    module.sweep = sweep  # type: ignore[attr-defined]
    sys.modules["twin_schedule_test_app"] = module
    app.event_sources[0].handler_string = "twin_schedule_test_app.sweep"
    schedules = Schedules(app, every_s=0.05).start()
    try:
        assert ran.wait(5)
    finally:
        schedules.stop()
        del sys.modules["twin_schedule_test_app"]
    assert seen[0].detail_type == "Scheduled Event" and seen[0].source == "aws.events"


def test_the_rate_comes_from_the_template_expression() -> None:
    assert rate_s(Rate(5, unit=Rate.MINUTES)) == 300.0
    assert rate_s(Rate(2, unit=Rate.HOURS)) == 7200.0
    with pytest.raises(ScheduleError):
        rate_s(Cron(0, 10, "*", "*", "?", "*"))
