"""The dispatcher and the command handlers, wired to real parts; only the MQTT link is a recorder."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from edge.agent.commands import CCTV_DISABLED, AgentCommands
from edge.agent.config import ExecMode, ExecPolicy
from edge.agent.dispatcher import Dispatcher, RecentRequests, fit, request_id_of
from edge.agent.events import command_state
from edge.agent.executor import Executor
from edge.agent.metrics import MetricsSampler
from edge.agent.settings import SettingsStore
from edge.agent.workers import WorkerPool
from shared.messages import MAX_PAYLOAD_BYTES, CommandStatus, Event, Metrics, Response, decode, encode, structs
from shared.mqtt import IncomingMessage
from shared.topics import AgentUp, agent_down


class RecordingUplink:
    """Stands in for the MQTT link: records what would be published."""

    def __init__(self) -> None:
        self.published: list[tuple[AgentUp, bytes]] = []
        self.cond = threading.Condition()

    def publish(self, channel: AgentUp, message: Any, *, retain: bool = False) -> bool:
        payload = message if isinstance(message, bytes) else structs.encode(message)
        with self.cond:
            self.published.append((channel, payload))
            self.cond.notify_all()
        return True

    def events(self) -> list[Event]:
        with self.cond:
            return [decode(Event, p) for c, p in self.published if c is AgentUp.EVENT]

    def sequence(self, request_id: str) -> list[str]:
        """What was published about ``request_id``, in order: progress states, then ``response``."""
        with self.cond:
            items = list(self.published)
        out: list[str] = []
        for channel, payload in items:
            if channel is AgentUp.EVENT:
                e = decode(Event, payload)
                if e.kind == "command.state" and e.data["request_id"] == request_id:
                    out.append(e.data["status"])
            elif channel is AgentUp.RESPONSE and decode(Response, payload).request_id == request_id:
                out.append("response")
        return out

    def responses(self) -> list[Response]:
        return [decode(Response, p) for c, p in self.published if c is AgentUp.RESPONSE]

    def wait_response(self, request_id: str, timeout: float = 10.0) -> Response:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for r in self.responses():
                    if r.request_id == request_id:
                        return r
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no response to {request_id}")
                self.cond.wait(remaining)


class Harness:
    def __init__(
        self, tmp_path: Path, policy: ExecPolicy | None = None, pool_size: int = 2, queue_size: int = 0
    ) -> None:
        self.uplink = RecordingUplink()
        self.store = SettingsStore(tmp_path / "settings.json")
        self.states = 0
        self.executor = Executor(policy or ExecPolicy(mode=ExecMode.ANY, kill_grace_s=0.2))
        self.pool = WorkerPool(pool_size, queue_size=queue_size)
        self.commands = AgentCommands(
            agent_id="pc-1", store=self.store, publish_state=self._state, executor=self.executor,
            pool=self.pool, sampler=MetricsSampler(), logfile=None,
            report_state=self._report,
        )
        self.calls: dict[str, int] = {}
        table = self.commands.table()
        self.dispatcher = Dispatcher(self.uplink, table, report_state=self._report)  # type: ignore[arg-type]

    def _report(self, cmd: structs.Command, status: CommandStatus, at: float | None = None, /) -> None:
        self.uplink.publish(AgentUp.EVENT, command_state(cmd.request_id, status, cmd.command_id, at=at))

    def _state(self) -> None:
        self.states += 1

    def send(self, payload: bytes | dict[str, Any], *, retain: bool = False) -> None:
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.dispatcher(IncomingMessage(agent_down("pc-1"), raw, 1, retain))

    def call(self, command: str, params: dict[str, Any] | None = None, rid: str = "r1") -> Response:
        self.send({"type": "command", "request_id": rid, "command": command, "params": params or {}})
        return self.uplink.wait_response(rid)


@pytest.fixture
def harness(tmp_path: Path) -> Any:
    h = Harness(tmp_path)
    yield h
    h.executor.abort_all(0.2)
    h.pool.close()


def test_settings_commands_follow_classtop(harness: Harness) -> None:
    assert harness.call("get_all_settings", rid="a").data == {}
    assert harness.call("get_setting", {"key": "theme_mode"}, rid="b").data is None
    assert harness.call("set_setting", {"key": "show_clock", "value": True}, rid="c").data == {"success": True}
    assert harness.states == 1
    assert harness.call("set_setting", {"key": "show_clock", "value": "true"}, rid="d").success
    assert harness.states == 1  # unchanged value: no state_update
    batch = harness.call("update_settings_batch", {"settings": {"font_size": 18, "theme_mode": "dark"}}, rid="e")
    assert batch.data == {"success": True} and harness.states == 2
    assert harness.call("get_all_settings", rid="f").data == {
        "show_clock": "true", "font_size": "18", "theme_mode": "dark",
    }
    assert harness.call("get_setting", {"key": "font_size"}, rid="g").data == "18"
    assert harness.call("refresh_state", rid="h").data == {"success": True} and harness.states == 3


def test_system_commands(harness: Harness) -> None:
    assert harness.call("ping", rid="p").data["pong"] is True
    info = harness.call("get_info", rid="i").data
    assert info["agent_id"] == "pc-1" and info["cpu_count"] >= 1 and info["exec_mode"] == "any"
    metrics = harness.call("get_metrics", rid="m").data
    assert Metrics.model_validate(metrics).mem_total > 0
    logs = harness.call("get_logs", rid="l")
    assert logs.error_code == "not_supported"


def test_exec_results(harness: Harness) -> None:
    ok = harness.call("exec", {"argv": ["echo", "hi"]}, rid="x1")
    assert ok.success and ok.data["stdout"] == "hi\n" and ok.data["exit_code"] == 0
    bad = harness.call("exec", {"cmd": "echo partial; exit 4"}, rid="x2")
    assert not bad.success and bad.error == "exit code 4" and bad.error_code == "exec_failed"
    assert bad.data["stdout"] == "partial\n"
    slow = harness.call("exec", {"cmd": "sleep 10", "timeout_s": 0.3}, rid="x3")
    assert slow.error_code == "timeout" and slow.data["timed_out"] is True


def test_exec_policy_and_busy(tmp_path: Path) -> None:
    h = Harness(tmp_path, ExecPolicy(mode=ExecMode.ALLOWLIST, allowlist=["sleep"]), pool_size=1)
    try:
        assert h.call("exec", {"argv": ["id"]}, rid="no").error_code == "rejected_by_policy"
        h.send({"type": "command", "request_id": "long", "command": "exec", "params": {"argv": ["sleep", "1"]}})
        busy = h.call("exec", {"argv": ["sleep", "0"]}, rid="busy")
        assert busy.error_code == "busy"
        assert h.uplink.wait_response("long").success
    finally:
        h.pool.close()


def test_bad_payloads(harness: Harness) -> None:
    harness.send(b"not json")
    harness.send(b'{"no": "request id"}')
    harness.send(b'{"request_id": "bad id with spaces", "command": "ping"}')
    assert harness.uplink.responses() == []  # nothing to answer to: logged and dropped

    harness.send({"request_id": "m1"})
    assert harness.uplink.wait_response("m1").error_code == "bad_payload"
    harness.send({"type": "command", "request_id": "m2", "command": "ping", "params": []})
    assert harness.uplink.wait_response("m2").error_code == "bad_payload"
    unknown = harness.call("format_disk", rid="m3")
    assert (unknown.error_code, unknown.error) == ("unknown_command", "Unknown command: format_disk")
    wrong = harness.call("get_setting", {"key": 5}, rid="m4")
    assert wrong.error_code == "invalid_params" and "key" in (wrong.error or "")
    neither = harness.call("exec", {"timeout_s": 1}, rid="m5")
    assert neither.error_code == "invalid_params"
    cctv = harness.call("cctv_start_recording", {"camera_id": 0}, rid="m6")
    assert (cctv.error_code, cctv.error) == ("not_supported", CCTV_DISABLED)
    assert harness.call("ping", rid="still-alive").success


def test_retained_commands_and_other_topics_are_ignored(harness: Harness) -> None:
    harness.send({"type": "command", "request_id": "ret", "command": "ping"}, retain=True)
    harness.dispatcher(IncomingMessage("ct/agent/pc-1/up/status", b"{}", 1, False))
    assert harness.uplink.responses() == []


def test_duplicate_request_ids_run_once(harness: Harness, tmp_path: Path) -> None:
    counter = tmp_path / "count"
    params = {"cmd": f"echo x >> {counter}"}
    first = harness.call("exec", params, rid="dup")
    harness.send({"type": "command", "request_id": "dup", "command": "exec", "params": params})
    deadline = time.monotonic() + 5
    while len(harness.uplink.responses()) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    replayed = harness.uplink.responses()
    assert [r.request_id for r in replayed] == ["dup", "dup"] and replayed[1] == first
    assert counter.read_text() == "x\n"


def test_duplicate_while_running_is_ignored(harness: Harness, tmp_path: Path) -> None:
    counter = tmp_path / "count"
    cmd = {"type": "command", "request_id": "slow", "command": "exec",
           "params": {"cmd": f"echo x >> {counter}; sleep 0.5"}}
    harness.send(cmd)
    harness.send(cmd)
    harness.uplink.wait_response("slow")
    time.sleep(0.3)
    assert len(harness.uplink.responses()) == 1 and counter.read_text() == "x\n"


def test_handler_crash_becomes_internal_error(harness: Harness) -> None:
    def boom(*_args: Any) -> Any:
        raise RuntimeError("kaboom")

    harness.dispatcher.handlers["ping"] = boom
    response = harness.call("ping", rid="crash")
    assert response.error_code == "internal" and "kaboom" in (response.error or "")
    assert harness.call("get_all_settings", rid="after").success


def test_recent_requests_is_bounded() -> None:
    recent = RecentRequests(size=3)
    for i in range(5):
        assert recent.begin(f"r{i}") is True
        recent.finish(f"r{i}", structs.response_ok(f"r{i}"))
    assert recent.begin("r0") is True  # forgotten
    assert isinstance(recent.begin("r4"), structs.Response)


def test_answered_requests_are_forgotten_after_their_age_and_running_ones_are_not() -> None:
    now = [0.0]
    recent = RecentRequests(size=2048, max_age_s=600.0, clock=lambda: now[0])
    assert recent.begin("long") is True  # still running
    for i in range(1000):  # a day of distinct requests, one a minute
        now[0] += 60.0
        assert recent.begin(f"r{i}") is True
        recent.finish(f"r{i}", structs.response_ok(f"r{i}"))
    assert len(recent) <= 12  # the running one and the last ten minutes' answers, not 1,001
    assert recent.begin("long") is False  # never forgotten while it runs
    assert isinstance(recent.begin("r999"), structs.Response)  # a repeat within the age is replayed
    now[0] += 601.0
    assert recent.begin("r999") is True


def test_request_id_of() -> None:
    assert request_id_of(b'{"request_id": "abc"}') == "abc"
    assert request_id_of(b'{"request_id": 5}') is None
    assert request_id_of(b'{"request_id": "abc\\n"}') is None  # "$" would take a final newline: no answer to it
    assert request_id_of(b"[1]") is None
    assert request_id_of(b"\xff") is None


def test_fit_trims_exec_output_to_the_message_limit() -> None:
    data = {"exit_code": 0, "stdout": "\x01" * 100_000, "stderr": "e" * 90_000, "stdout_truncated": False,
            "stderr_truncated": False, "duration_ms": 1, "timed_out": False}
    payload = fit(structs.response_ok("big", data))
    assert len(payload) <= MAX_PAYLOAD_BYTES
    out = decode(Response, payload).data
    assert out["stdout_truncated"] is True and out["stdout"].startswith("\x01")
    assert fit(structs.response_ok("small", {"a": 1})) == encode(Response.ok("small", {"a": 1}))  # as pydantic's
    huge = decode(Response, fit(structs.response_ok("other", {"blob": "x" * 200_000})))
    assert huge.error_code == "payload_too_large"


# ---------------------------------------------------------------- command states (queued / running)


def test_exec_reports_running_before_its_response(harness: Harness) -> None:
    assert harness.call("exec", {"argv": ["true"]}, rid="st1").success
    assert harness.uplink.sequence("st1") == ["running", "response"]
    assert harness.call("ping", rid="st2").success
    assert harness.uplink.sequence("st2") == ["response"]  # inline commands: the response is the state
    assert harness.call("exec", {"argv": ["id"]}, rid="st3").success
    rejected = harness.call("exec", {"cmd": "sleep 5", "timeout_s": 99999}, rid="st4")
    assert rejected.error_code == "invalid_params" and harness.uplink.sequence("st4") == ["response"]


def test_a_cloud_command_reports_running_and_is_logged_with_its_command_id(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="edge.agent")
    harness.send({"type": "command", "request_id": "lc-1", "command": "ping", "command_id": "cmd-42"})
    assert harness.uplink.wait_response("lc-1").success
    assert harness.uplink.sequence("lc-1") == ["running", "response"]
    running = [e for e in harness.uplink.events() if e.data.get("request_id") == "lc-1"]
    assert running[0].data == {"request_id": "lc-1", "status": "running", "command_id": "cmd-42"}
    harness.send({"type": "command", "request_id": "lc-2", "command": "exec", "params": {"argv": ["true"]},
                  "command_id": "cmd-43"})
    assert harness.uplink.wait_response("lc-2").success
    assert harness.uplink.sequence("lc-2") == ["running", "response"]  # exec reports its own, once
    lines = [r for r in caplog.records if getattr(r, "command_id", None) == "cmd-42"]
    assert [("received" in r.getMessage(), "command_id=cmd-42" in r.getMessage()) for r in lines] == [
        (True, True), (False, True)]
    assert any("command_id=cmd-43" in r.getMessage() and "starting" in r.getMessage() for r in caplog.records)
    # a site's own command (no command_id) keeps its old shape: no progress event, no command_id in the log
    assert harness.call("ping", rid="lc-3").success and harness.uplink.sequence("lc-3") == ["response"]


def test_a_command_id_keeps_a_quick_command_off_the_network_thread() -> None:
    msg = IncomingMessage(agent_down("pc-1"), json.dumps(
        {"type": "command", "request_id": "q", "command": "ping", "command_id": "c"}).encode(), 1, False)
    assert not Dispatcher.quick(msg)


@pytest.mark.parametrize("command_id", ["", "bad id", "x" * 200, 5])
def test_a_bad_command_id_is_refused_as_a_bad_payload(harness: Harness, command_id: object) -> None:
    harness.send({"type": "command", "request_id": "bad-cid", "command": "ping", "command_id": command_id})
    answer = harness.uplink.wait_response("bad-cid")
    assert answer.error_code == "bad_payload" and "command_id" in (answer.error or "")
    assert harness.uplink.sequence("bad-cid") == ["response"]


def test_queued_commands_wait_for_a_slot_and_say_so(tmp_path: Path) -> None:
    gate = tmp_path / "go"
    h = Harness(tmp_path, pool_size=1, queue_size=1)
    try:
        wait = {"cmd": f"while [ ! -e {gate} ]; do sleep 0.02; done", "timeout_s": 30}
        h.send({"type": "command", "request_id": "first", "command": "exec", "params": wait})
        h.send({"type": "command", "request_id": "second", "command": "exec", "params": {"argv": ["true"]}})
        busy = h.call("exec", {"argv": ["true"]}, rid="third")  # one running + one queued: full
        assert busy.error_code == "busy"
        assert h.uplink.sequence("second") == ["queued"]
        gate.touch()
        assert h.uplink.wait_response("first").success and h.uplink.wait_response("second").success
        assert h.uplink.sequence("first") == ["running", "response"]
        assert h.uplink.sequence("second") == ["queued", "running", "response"]
    finally:
        h.executor.abort_all(0.2)
        h.pool.close()


def test_command_state_event_shape() -> None:
    event = command_state("r-1", CommandStatus.RUNNING)
    assert event.kind == "command.state" and event.data == {"request_id": "r-1", "status": "running"}
    with pytest.raises(ValueError, match="response"):
        command_state("r-1", CommandStatus.SUCCEEDED)


def test_quick_commands_are_picked_for_the_network_thread() -> None:
    topic = agent_down("pc-1")

    def msg(payload: bytes, retain: bool = False) -> IncomingMessage:
        return IncomingMessage(topic, payload, 1, retain)

    def command(name: str, **params: Any) -> bytes:
        return json.dumps({"request_id": "r1", "command": name, "params": params}).encode()

    assert Dispatcher.quick(msg(command("ping")))
    assert Dispatcher.quick(msg(command("get_setting", key="theme_mode")))
    assert Dispatcher.quick(msg(command("get_all_settings")))
    assert not Dispatcher.quick(msg(command("exec", cmd="echo hi")))  # a subprocess: the dispatcher thread
    assert not Dispatcher.quick(msg(command("set_setting", key="a", value="b")))  # writes a file
    assert not Dispatcher.quick(msg(command("ping"), retain=True))  # refused anyway, off the network thread
    assert not Dispatcher.quick(msg(command("ping", pad="x" * 5000)))  # big: not parsed on the network thread
    assert not Dispatcher.quick(msg(b"{not json"))
    assert not Dispatcher.quick(msg(b"\xff\xfe"))
    assert not Dispatcher.quick(msg(b'["ping"]'))
