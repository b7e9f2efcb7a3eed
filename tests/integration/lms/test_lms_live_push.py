"""The console's push channel (``GET /api/live``, Server-Sent Events) against the real LMS, broker and agents."""

from __future__ import annotations

import contextlib
import json
import queue
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from shared.messages import Event, encode
from shared.topics import AgentUp
from tests.integration.lms.lms_harness import AgentFactory, LmsFactory, LmsProcess, signed_in

pytestmark = pytest.mark.integration


class Stream:
    """An open ``/api/live`` stream read on its own thread into a queue of ``(event, data)``."""

    def __init__(self, client: httpx.Client, params: dict[str, str], headers: dict[str, str] | None = None) -> None:
        self.messages: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self.status: int | None = None
        self.ended = threading.Event()
        self._client, self._params, self._headers = client, params, headers or {}
        self._opened = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        assert self._opened.wait(15), "the stream did not open"

    def _read(self) -> None:
        try:
            with self._client.stream("GET", "/api/live", params=self._params, headers=self._headers,
                                     timeout=httpx.Timeout(30.0, read=None)) as r:  # fmt: skip
                self.status = r.status_code
                self._opened.set()
                event, data = "message", ""
                for line in r.iter_lines():
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: "):
                        data = line[6:]
                    elif line == "" and data:
                        self.messages.put((event, json.loads(data)))
                        event, data = "message", ""
        except httpx.HTTPError:
            pass
        finally:
            self._opened.set()
            self.ended.set()

    def next(self, event: str, match: dict[str, Any] | None = None, timeout: float = 15.0) -> dict[str, Any]:
        """The next message of ``event`` whose fields (nested one level) match ``match``."""
        while True:
            kind, data = self.messages.get(timeout=timeout)
            if kind == event and all(_matches(data.get(k), v) for k, v in (match or {}).items()):
                return data


def _matches(value: Any, wanted: Any) -> bool:
    if isinstance(wanted, dict):
        return isinstance(value, dict) and all(value.get(k) == v for k, v in wanted.items())
    return bool(value == wanted)


@pytest.fixture
def lms(lms_factory: LmsFactory) -> Iterator[LmsProcess]:
    yield lms_factory().start()


def test_an_open_page_sees_an_agent_leave_and_return_and_its_commands_without_polling(
    lms: LmsProcess, agents: AgentFactory
) -> None:
    agent = agents("agent-1").start()
    lms.wait_agent("agent-1")
    browser, _csrf = signed_in(lms, "desk", "viewer")
    with contextlib.closing(browser):
        stream = Stream(browser, {"kinds": "presence,command,event"})  # the cookie, as EventSource sends it
        assert stream.status == 200
        agent.kill()  # no goodbye: the broker's Last Will
        gone = stream.next("presence", {"agent": {"uuid": "agent-1", "status": "offline"}})
        assert gone["agent_id"] == "agent-1"
        agent = agents("agent-1").start()
        stream.next("presence", {"agent": {"uuid": "agent-1", "status": "online"}})
        assert lms.command("agent-1", "ping").status_code == 200
        done = stream.next("command", {"agent_id": "agent-1", "command": "ping"})
        assert done["success"] is True and done["request_id"]
        agent.publish(AgentUp.EVENT, encode(Event(timestamp=1.0, kind="disk.low", severity="warning",
                                                  message="C: 95 %")))  # fmt: skip
        assert stream.next("event", {"agent_id": "agent-1"})["event"]["kind"] == "disk.low"


def test_an_open_page_sees_an_alert_fire_and_its_acknowledgement_without_polling(
    lms: LmsProcess, agents: AgentFactory
) -> None:
    rule = {"rule_id": "default-agent-offline", "name": "offline", "condition": {"kind": "agent_offline", "for_s": 5}}
    assert lms.http.put("/api/alerts/rules/default-agent-offline", json=rule).status_code == 200
    agent = agents("agent-1").start()
    lms.wait_agent("agent-1")
    browser, csrf = signed_in(lms, "desk", "operator")
    with contextlib.closing(browser):
        stream = Stream(browser, {"kinds": "alert"})
        assert stream.status == 200
        agent.kill()
        fired = stream.next("alert", {"alert": {"condition_kind": "agent_offline", "state": "firing"}}, timeout=60)
        assert fired["agent_id"] == "agent-1" and fired["alert"]["target"]["agent_id"] == "agent-1"
        alert_id = fired["alert"]["alert_id"]
        acked = browser.post(f"/api/alerts/{alert_id}/acknowledge", headers={"X-CSRF-Token": csrf})
        assert acked.status_code == 200, acked.text
        seen = stream.next("alert", {"alert": {"alert_id": alert_id, "state": "acknowledged"}})
        assert seen["alert"]["acknowledged_by"]


def test_a_page_of_one_agent_gets_only_its_changes_and_resumes_after_a_reconnect(
    lms: LmsProcess, agents: AgentFactory
) -> None:
    one, two = agents("agent-1").start(), agents("agent-2").start()
    lms.wait_agents("agent-1", "agent-2")
    with httpx.Client(base_url=lms.base_url, headers=lms.http.headers) as script:  # a bearer token works too
        stream = Stream(script, {"kinds": "command", "agent": "agent-2"})
        lms.command("agent-1", "ping")
        lms.command("agent-2", "ping")
        first = stream.next("command", {"command": "ping"})
        assert first["agent_id"] == "agent-2"
        # the page drops; meanwhile a command ends; reconnecting with Last-Event-ID gets it
        with script.stream("GET", "/api/live", params={"kinds": "command"}) as r:
            last_id = next(line.removeprefix(": connected at ") for line in r.iter_lines() if line.startswith(":"))
        lms.command("agent-2", "get_all_settings")
        resumed = Stream(script, {"kinds": "command", "agent": "agent-2"}, {"Last-Event-ID": last_id})
        assert resumed.next("command", {"command": "get_all_settings"})["agent_id"] == "agent-2"
    assert one and two


def test_the_push_channel_is_closed_to_strangers_and_bad_parameters(lms: LmsProcess) -> None:
    with httpx.Client(base_url=lms.base_url, timeout=15.0) as anon:
        assert anon.get("/api/live").status_code == 401
        assert anon.get("/api/live", cookies={"ct_session": "forged-session-token"}).status_code == 401
    for params in ({"kinds": "presence,secrets"}, {"kinds": "PRESENCE"}, {"agent": "../x"}, {"after": "-1"},
                   {"kinds": "a" * 200}):  # fmt: skip
        r = lms.http.get("/api/live", params=params)
        assert r.status_code == 422, (params, r.text)


def test_open_streams_end_when_the_lms_stops(lms: LmsProcess) -> None:
    with httpx.Client(base_url=lms.base_url, headers=lms.http.headers) as script:
        stream = Stream(script, {"kinds": "presence"})
        assert stream.status == 200
        assert lms.stop() == 0  # a stream left open does not hold up the LMS's shutdown
        assert stream.ended.wait(10)
