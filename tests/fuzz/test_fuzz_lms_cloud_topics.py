"""Fuzz the topics the LMS consumes from the cloud (``ct/{tenant}/{stage}/site/{site}/down/{command,logs,retire}``)
through its own handlers: the fan-out of site commands (over a real router, registry and SQLite store), log
requests, agent retirements.

The property: nothing raises; a refused message is counted and writes nothing (no command id remembered, nothing
dispatched or retired); a site command the LMS takes answers every target it names (``rejected``, ``failed``... —
the cloud is never left waiting on a message the LMS took).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given

from edge.lms.agents import Registry
from edge.lms.cloud.agent_retirements import CloudRetirements
from edge.lms.cloud.log_uploads import LogUploads
from edge.lms.commands import CommandLog, Fanout, Router
from edge.lms.commands.fanout import _Incoming
from edge.lms.commands.result_buffer import ResultBuffer
from edge.lms.store import Store
from shared import topics
from shared.errors import MessageError
from shared.messages import AgentRetire, SiteCommand, decode
from shared.mqtt import MqttClient, MqttSettings
from shared.names import Namespace
from shared.topics import SiteDown
from tests.fixtures.outbox import RecordingOutbox
from tests.fuzz.payloads import dumps, nest, payloads
from tests.fuzz.tally import tally

NS = Namespace("demo", "dev")
SITE = "s1"
NOW = time.time()
COMMANDS: list[dict[str, Any]] = [
    {"type": "command", "request_id": "c-1", "command": "ping", "params": {}, "targets": ["agent-1", "agent-2"]},
    {"type": "command", "request_id": "c-2", "command": "set_setting", "params": {"key": "a", "value": "b"},
     "targets": ["agent-1"], "timeout_s": 5},
]  # fmt: skip
LOG_REQUESTS: list[dict[str, Any]] = [{"type": "log_request", "request_id": "l-1", "expires_at": NOW + 600,
                 "upload": {"url": "https://bucket.example/", "fields": {"key": "k"}}}]  # fmt: skip
RETIRES: list[dict[str, Any]] = [
    {"type": "agent_retire", "agent_id": "agent-1", "by": "admin", "timestamp": NOW, "reason": "gone"}
]


class Outbox(RecordingOutbox):
    def answered(self, command_id: str) -> set[str]:
        with self.cond:
            return {r.agent_id for m in self.messages for r in m.results
                    if r.request_id == command_id and r.status.terminal}  # fmt: skip


class Site:
    def __init__(self, path: Path) -> None:
        self.store = Store(path).open()
        self.registry = Registry(self.store, presence_timeout_s=3600)
        mqtt = MqttClient(MqttSettings(host="127.0.0.1", port=1, client_id="lms-fuzz"))  # never connected
        self.journal = CommandLog(self.store).start()
        self.router = Router(mqtt, self.registry, self.journal, default_timeout_s=5)
        self.router.start()
        self.outbox = Outbox()
        self.fanout = Fanout(self.router, self.outbox, namespace=NS, site_id=SITE, store=self.store,
                             buffer=ResultBuffer(hold_s=0.0, terminal_delay_s=0.0))  # fmt: skip
        self.fanout.start()

    def close(self) -> None:
        self.fanout.stop()
        self.router.stop()
        self.journal.stop()
        self.store.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    site = Site(tmp_path_factory.mktemp("fuzz-fanout") / "lms.db")
    yield site
    site.close()


@given(payload=payloads(*COMMANDS))
@example(payload=dumps({**COMMANDS[0], "params": nest(300)}))
@example(payload=dumps({**COMMANDS[0], "timeout_s": float("nan")}))
@example(payload=dumps({**COMMANDS[0], "targets": ["agent-1"] * 2}))
@example(payload=dumps({**COMMANDS[0], "expires_at": 2**64}))
def test_fuzz_site_commands(site: Site, payload: bytes) -> None:
    tally("LMS ct/+/+/site/+/down/command")
    bad = site.fanout.stats.bad_messages
    seen = site.store.count("cloud_commands")
    try:
        command: SiteCommand | None = decode(SiteCommand, payload)
    except MessageError:
        command = None
    site.fanout._on_command(_Incoming(topics.site_down(NS, SITE, SiteDown.COMMAND), payload, time.time()))
    if command is None:
        assert site.fanout.stats.bad_messages == bad + 1
        assert site.store.count("cloud_commands") == seen
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not site.outbox.answered(command.request_id) >= set(command.targets):
        time.sleep(0.01)
    assert site.outbox.answered(command.request_id) >= set(command.targets) or site.fanout.stats.duplicates


@given(payload=payloads(*LOG_REQUESTS))
@example(payload=dumps({**LOG_REQUESTS[0], "upload": {"url": "https://b/", "fields": {"x": "y"}}}))
def test_fuzz_log_requests(payload: bytes) -> None:
    """(No log file: a good request is answered 'not uploaded' in the audit; nothing is sent anywhere.)"""
    tally("LMS ct/+/+/site/+/down/logs")
    uploads = LogUploads(None)
    assert uploads.process(payload) is None
    assert uploads.stats.bad_messages + uploads.stats.failed + uploads.stats.duplicates + uploads.stats.expired >= 1


class Retirement:
    def __init__(self) -> None:
        self.retired: list[str] = []

    def retire(self, agent_id: str, *, by: str | None, reason: str | None = None) -> Any:
        self.retired.append(agent_id)
        return self

    def to_dict(self) -> dict[str, Any]:
        return {}


class Audit:
    def record(self, *args: Any, **kwargs: Any) -> None:
        return None


@given(payload=payloads(*RETIRES))
@example(payload=dumps({**RETIRES[0], "agent_id": "../agent-1"}))
@example(payload=dumps({**RETIRES[0], "timestamp": float("inf")}))
def test_fuzz_agent_retirements(payload: bytes) -> None:
    tally("LMS ct/+/+/site/+/down/retire")
    retirement = Retirement()
    handler = CloudRetirements(retirement, Audit())  # type: ignore[arg-type]
    refused = handler.refused
    try:
        message: AgentRetire | None = decode(AgentRetire, payload)
    except MessageError:
        message = None
    handler.handle("topic", payload)
    if message is None:
        assert handler.refused == refused + 1 and retirement.retired == []
