"""The real agent (``python -m edge.agent``) against the real site broker, driven as the ``lms`` user."""

from __future__ import annotations

import contextlib
import json
import secrets
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from infra.local.ports import free_port
from infra.local.process import wait_for
from shared.messages import Heartbeat, Metrics, Response, StateUpdate, Status, decode
from shared.topics import AgentUp, agent_down, agent_up
from tests.fixtures.agents import AGENT, AgentProc, broker_agent_env
from tests.fixtures.brokers import Broker, MqttProbe, Received, broker_process, running, site_acl_text

pytestmark = pytest.mark.integration

STATUS = agent_up(AGENT, AgentUp.STATUS)
RESPONSE = agent_up(AGENT, AgentUp.RESPONSE)
STATE = agent_up(AGENT, AgentUp.STATE)


class AgentRunner(AgentProc):
    """Starts and stops ``python -m edge.agent`` processes sharing one config and state directory."""

    def __init__(self, broker: Broker, workdir: Path) -> None:
        super().__init__(workdir, env=broker_agent_env(broker))
        self.broker = broker

    def write_config(self, exec_section: str = 'mode = "any"\nmax_concurrent = 1\nkill_grace_s = 0.5') -> None:
        self.config.write_text(
            f'agent_id = "{AGENT}"\nheartbeat_s = 0.5\nmetrics_s = 1\nstate_dir = "state"\nstop_wait_s = 3\n'
            f'[mqtt]\nhost = "{self.broker.host}"\nport = {self.broker.port}\nreconnect_max_s = 1\n'
            f"[exec]\n{exec_section}\n"
        )

    def start(self) -> subprocess.Popen[bytes]:
        if not self.config.exists():
            self.write_config()
        return super().start()


@contextlib.contextmanager
def restartable_site(kind: str, workdir: Path) -> Iterator[tuple[Broker, AgentRunner]]:
    """A broker the test may stop and start again (same port, same persistence; users ``lms`` and the agent) and
    an agent runner for it; the agent is killed and the broker removed afterwards."""
    users = {"lms": secrets.token_urlsafe(12), AGENT: secrets.token_urlsafe(12)}
    process = broker_process(kind, port=free_port(), users=users, acl_text=site_acl_text())
    with running(Broker(process, dict(users))) as broker:
        runner = AgentRunner(broker, workdir)
        try:
            yield broker, runner
        finally:
            runner.kill()
            print(runner.output()[-5000:])  # shown by pytest when the test failed


@pytest.fixture
def agent(site_broker: Broker, tmp_path: Path) -> Iterator[AgentRunner]:
    runner = AgentRunner(site_broker, tmp_path)
    try:
        yield runner
    finally:
        runner.kill()
        print(runner.output()[-5000:])  # shown by pytest when the test failed


@pytest.fixture
def lms(site_broker: Broker) -> MqttProbe:
    probe = site_broker.client("lms")
    probe.subscribe(f"ct/agent/{AGENT}/up/#")
    return probe


def on(topic: str, **fields: Any) -> Callable[[Received], bool]:
    """A predicate: a message on ``topic`` whose JSON has ``fields``."""

    def pred(m: Received) -> bool:
        if m.topic != topic:
            return False
        data = json.loads(m.payload)
        return all(data.get(k) == v for k, v in fields.items())

    return pred


def expect(probe: MqttProbe, match: str | Callable[[Received], bool], *, since: int = 0,
           timeout: float = 15) -> Received:
    """The first message recorded by ``probe`` after index ``since`` that matches (waiting for it)."""
    pred = on(match) if isinstance(match, str) else match
    deadline = time.monotonic() + timeout
    while True:
        for m in list(probe.messages)[since:]:
            if pred(m):
                return m
        if time.monotonic() > deadline:
            raise TimeoutError(f"no matching message within {timeout} s; got {probe.topics()[since:]}")
        time.sleep(0.01)


def mark(probe: MqttProbe) -> int:
    return len(probe.messages)


def call(lms: MqttProbe, command: str, params: dict[str, Any] | None = None, *, rid: str,
         timeout: float = 15) -> Response:
    since = mark(lms)
    payload = {"type": "command", "request_id": rid, "command": command, "params": params or {}}
    lms.publish(agent_down(AGENT), json.dumps(payload))
    return decode(Response, expect(lms, on(RESPONSE, request_id=rid), since=since, timeout=timeout).payload)


def send_raw(lms: MqttProbe, payload: bytes) -> None:
    lms.publish(agent_down(AGENT), payload)


def wait_online(lms: MqttProbe, since: int = 0, timeout: float = 20) -> Status:
    return decode(Status, expect(lms, on(STATUS, state="online"), since=since, timeout=timeout).payload)


def retained_status(broker: Broker) -> Status:
    """What a client that subscribes now is told (the retained status)."""
    probe = broker.client("lms")
    probe.subscribe(STATUS)
    message = probe.wait_for(STATUS)
    assert message.retain
    probe.close()
    return decode(Status, message.payload)


def test_presence_state_heartbeat_and_metrics(agent: AgentRunner, lms: MqttProbe, site_broker: Broker) -> None:
    agent.start()
    status = wait_online(lms)
    assert status.reason == "start" and status.version and status.hostname
    state = decode(StateUpdate, expect(lms, STATE).payload)
    assert state.data.settings == {} and state.data.inventory and state.data.inventory["agent_id"] == AGENT
    first = expect(lms, agent_up(AGENT, AgentUp.HEARTBEAT))
    second = expect(lms, agent_up(AGENT, AgentUp.HEARTBEAT), since=lms.messages.index(first) + 1)
    assert decode(Heartbeat, second.payload).seq == (decode(Heartbeat, first.payload).seq or 0) + 1
    metrics = decode(Metrics, expect(lms, agent_up(AGENT, AgentUp.METRICS)).payload)
    assert metrics.mem_total > 0 and 0 <= metrics.cpu_percent <= 100
    online = retained_status(site_broker)
    assert online.state == "online" and online.reason == "start"


def pydantic_loaded(pid: int) -> bool:
    """Whether the process has imported pydantic, as the kernel reports it: ``import pydantic`` loads
    pydantic-core's extension module, which then shows among the process's mapped files."""
    return "_pydantic_core" in Path(f"/proc/{pid}/maps").read_text()


def test_an_idle_agent_never_loads_pydantic(agent: AgentRunner, lms: MqttProbe) -> None:
    """Config, presence, state, heartbeats, metrics and the ClassTop snapshot all go through the msgspec mirrors
    (edge/agent/footprint.py); the first command loads the parameter models, which the probe then sees."""
    proc = agent.start()
    wait_online(lms)
    expect(lms, STATE)
    expect(lms, agent_up(AGENT, AgentUp.HEARTBEAT))
    expect(lms, agent_up(AGENT, AgentUp.METRICS))
    expect(lms, on(agent_up(AGENT, AgentUp.EVENT), kind="classtop.snapshot"))
    assert not pydantic_loaded(proc.pid)
    # nor shutil (its bz2 and lzma libraries): argparse's width and write_atomic's temporary do without
    assert not any(f"/{lib}." in Path(f"/proc/{proc.pid}/maps").read_text() for lib in ("_bz2", "_lzma"))
    assert call(lms, "ping", rid="first-command").success
    assert pydantic_loaded(proc.pid)  # the probe sees pydantic once it is there


def test_exec_and_settings_commands(agent: AgentRunner, lms: MqttProbe) -> None:
    agent.start()
    wait_online(lms)
    ok = call(lms, "exec", {"argv": ["echo", "hello"]}, rid="e1")
    assert ok.success and ok.data["stdout"] == "hello\n" and ok.data["exit_code"] == 0
    failed = call(lms, "exec", {"cmd": "echo out; echo err >&2; exit 7"}, rid="e2")
    assert not failed.success and failed.error == "exit code 7" and failed.error_code == "exec_failed"
    assert (failed.data["stdout"], failed.data["stderr"]) == ("out\n", "err\n")
    slow = call(lms, "exec", {"cmd": "sleep 30", "timeout_s": 0.5}, rid="e3")
    assert slow.error_code == "timeout" and slow.data["timed_out"] is True
    big = call(lms, "exec", {"cmd": "head -c 3000000 /dev/zero | tr '\\0' z", "output_limit": 1048576}, rid="e4")
    assert big.success and big.data["stdout_truncated"] and len(big.data["stdout"]) <= 64 * 1024

    assert call(lms, "get_all_settings", rid="s1").data == {}
    since = mark(lms)
    assert call(lms, "set_setting", {"key": "theme_mode", "value": "dark"}, rid="s2").data == {"success": True}
    state = decode(StateUpdate, expect(lms, STATE, since=since).payload)
    assert state.data.settings == {"theme_mode": "dark"}
    batch = call(lms, "update_settings_batch", {"settings": {"show_clock": False, "font_size": 20}}, rid="s3")
    assert batch.data == {"success": True}
    settings = call(lms, "get_all_settings", rid="s4").data
    assert settings == {"theme_mode": "dark", "show_clock": "false", "font_size": "20"}
    assert call(lms, "get_setting", {"key": "font_size"}, rid="s5").data == "20"
    since = mark(lms)
    assert call(lms, "refresh_state", rid="s6").data == {"success": True}
    assert decode(StateUpdate, expect(lms, STATE, since=since).payload).data.settings == settings

    logs = call(lms, "get_logs", {"lines": 50, "level": "WARNING"}, rid="g1")
    assert logs.success and any("exit code 7" in line for line in logs.data["lines"])
    assert call(lms, "get_info", rid="g2").data["exec_mode"] == "any"
    assert call(lms, "get_metrics", rid="g3").data["mem_total"] > 0


def test_bad_payloads_are_answered_and_the_agent_survives(agent: AgentRunner, lms: MqttProbe) -> None:
    agent.start()
    wait_online(lms)
    send_raw(lms, b"\x00 definitely not json")
    send_raw(lms, b'{"type": "command"}')
    send_raw(lms, b"[1, 2, 3]")
    missing = json.dumps({"type": "command", "request_id": "b1"}).encode()
    send_raw(lms, missing)
    resp = decode(Response, expect(lms, on(RESPONSE, request_id="b1")).payload)
    assert not resp.success and resp.error_code == "bad_payload" and "command" in (resp.error or "")

    unknown = call(lms, "self_destruct", rid="b2")
    assert (unknown.success, unknown.error_code, unknown.error) == (False, "unknown_command",
                                                                     "Unknown command: self_destruct")
    wrong = call(lms, "exec", {"argv": "ls -l", "timeout_s": "soon"}, rid="b3")
    assert wrong.error_code == "invalid_params"
    wrong = call(lms, "set_setting", {"key": "a", "value": {"nested": 1}}, rid="b4")
    assert wrong.error_code == "invalid_params"
    cctv = call(lms, "cctv_get_all_states", rid="b5")
    assert cctv.error_code == "not_supported"

    assert call(lms, "ping", rid="alive").success
    assert agent.proc is not None and agent.proc.poll() is None


def test_duplicates_and_busy(agent: AgentRunner, lms: MqttProbe) -> None:
    agent.start()
    wait_online(lms)
    first = call(lms, "exec", {"cmd": "echo $$"}, rid="d1")
    again = call(lms, "exec", {"cmd": "echo $$"}, rid="d1")
    assert again == first  # replayed, not run again (a second run would print another pid)

    long = {"type": "command", "request_id": "long", "command": "exec", "params": {"cmd": "sleep 1"}}
    lms.publish(agent_down(AGENT), json.dumps(long))
    time.sleep(0.2)
    busy = call(lms, "exec", {"argv": ["true"]}, rid="busy")
    assert busy.error_code == "busy"
    assert call(lms, "ping", rid="p").success  # fast commands still answer
    assert decode(Response, expect(lms, on(RESPONSE, request_id="long")).payload).success


def test_allowlist_policy_over_mqtt(agent: AgentRunner, lms: MqttProbe) -> None:
    agent.write_config('mode = "allowlist"\nallowlist = ["echo"]')
    agent.start()
    wait_online(lms)
    assert call(lms, "exec", {"argv": ["echo", "ok"]}, rid="a1").success
    denied = call(lms, "exec", {"cmd": "echo ok; id"}, rid="a2")
    assert denied.error_code == "rejected_by_policy"
    assert call(lms, "exec", {"argv": ["id"]}, rid="a3").error_code == "rejected_by_policy"


def test_sigterm_publishes_retained_offline_stop(agent: AgentRunner, lms: MqttProbe, site_broker: Broker) -> None:
    agent.start()
    wait_online(lms)
    assert agent.stop(signal.SIGTERM) == 0
    status = decode(Status, expect(lms, on(STATUS, state="offline")).payload)
    assert status.reason == "stop"
    retained = retained_status(site_broker)
    assert (retained.state, retained.reason) == ("offline", "stop")
    time.sleep(0.5)
    assert not any(json.loads(m.payload).get("reason") == "lost" for m in lms.messages if m.topic == STATUS)


def running_child(pid: int, name: str) -> bool:
    """Whether a process below ``pid`` runs ``name`` (the agent's command, whatever wraps it)."""
    return any(name in " ".join(child.cmdline()) for child in psutil.Process(pid).children(recursive=True)
               if child.is_running())


def test_sigterm_kills_running_commands_and_answers_them(agent: AgentRunner, lms: MqttProbe) -> None:
    agent.start()
    wait_online(lms)
    long = {"type": "command", "request_id": "cut", "command": "exec", "params": {"cmd": "sleep 60", "timeout_s": 120}}
    lms.publish(agent_down(AGENT), json.dumps(long))
    assert agent.proc is not None
    pid = agent.proc.pid
    wait_for("the command's sleep to start", lambda: running_child(pid, "sleep"), 30)  # not a guessed pause
    assert agent.stop(signal.SIGTERM) == 0
    answer = decode(Response, expect(lms, on(RESPONSE, request_id="cut")).payload)
    assert not answer.success and "stopping" in (answer.error or "")
    assert answer.data["exit_code"] < 0
    offline = expect(lms, on(STATUS, state="offline"))
    assert decode(Status, offline.payload).reason == "stop"
    assert lms.messages.index(offline) > lms.messages.index(expect(lms, on(RESPONSE, request_id="cut")))


def test_kill_9_makes_the_broker_publish_the_last_will(
    agent: AgentRunner, lms: MqttProbe, site_broker: Broker
) -> None:
    agent.start()
    wait_online(lms)
    agent.stop(signal.SIGKILL)
    status = decode(Status, expect(lms, on(STATUS, state="offline"), timeout=10).payload)
    assert status.reason == "lost"
    retained = retained_status(site_broker)
    assert (retained.state, retained.reason) == ("offline", "lost")


def test_settings_survive_a_restart(agent: AgentRunner, lms: MqttProbe) -> None:
    agent.start()
    wait_online(lms)
    assert call(lms, "set_setting", {"key": "client_name", "value": "Room 101"}, rid="r1").success
    assert agent.stop() == 0
    expect(lms, on(STATUS, state="offline"))

    since = mark(lms)
    agent.start()
    wait_online(lms, since=since)
    state = decode(StateUpdate, expect(lms, STATE, since=since).payload)
    assert state.data.settings == {"client_name": "Room 101"}
    assert call(lms, "get_setting", {"key": "client_name"}, rid="r2").data == "Room 101"


def test_agent_reconnects_after_a_broker_restart(tmp_path: Path) -> None:
    with restartable_site("agent-restart", tmp_path) as (broker, runner):
        probe = broker.client("lms")
        probe.subscribe(f"ct/agent/{AGENT}/up/#")
        runner.start()
        wait_online(probe)
        broker.close_clients()
        broker.process.stop()
        broker.process.start()  # same port, same persistence
        probe = broker.client("lms")
        probe.subscribe(f"ct/agent/{AGENT}/up/#")
        deadline = time.monotonic() + 20
        for attempt in range(1000):
            try:
                assert call(probe, "ping", rid=f"after-restart-{attempt}", timeout=1).success
                break
            except TimeoutError:
                assert time.monotonic() < deadline, "the agent did not come back"
        expect(probe, agent_up(AGENT, AgentUp.HEARTBEAT))
        assert runner.stop() == 0
