"""Fuzz every topic the LMS consumes from agents (``ct/agent/{id}/up/{status,heartbeat,metrics,state,event,
response}``), in process through the LMS's own handlers over a real SQLite store: the registry, the agent events
(stored and forwarded), the metrics history and the command router's response handler.

The property, for any payload on any agent's topic (the topic names the sender; the broker's ACL lets an agent
publish only on its own): the handler raises nothing; input it refuses is counted and changes no row; whatever it
takes, every page that shows it (``GET /api/clients/{id}``, ``/metrics``, ``/processes``, ``/api/events``) still
renders as strict JSON — what FastAPI's response does (no NaN, no recursion limit).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.encoders import jsonable_encoder
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import TypeAdapter

from edge.lms.agents import MetricsHistory, Registry
from edge.lms.events import AgentEvents
from edge.lms.store import Store
from shared import topics
from shared.mqtt import IncomingMessage
from shared.names import Namespace
from shared.topics import AgentUp
from tests.fuzz.payloads import dumps, nest, payloads
from tests.fuzz.tally import tally

NOW = time.time()
VALID: dict[AgentUp, list[dict[str, Any]]] = {
    AgentUp.STATUS: [{"type": "status", "state": "online", "timestamp": NOW, "reason": "start", "hostname": "pc"}],
    AgentUp.HEARTBEAT: [{"type": "heartbeat", "timestamp": NOW, "seq": 1}],
    AgentUp.METRICS: [{"type": "metrics", "timestamp": NOW, "cpu_percent": 5.0, "mem_total": 100, "mem_used": 50,
                       "mem_percent": 50.0, "load": [0.1, 0.2, 0.3],
                       "disks": [{"mount": "/", "total": 10, "used": 5, "percent": 50.0}]}],
    AgentUp.STATE: [{"type": "state_update", "data": {"settings": {"theme_mode": "dark"}, "inventory": {"cpu": 4}}}],
    AgentUp.EVENT: [{"type": "event", "timestamp": NOW, "kind": "disk.full", "severity": "warning", "data": {"a": 1}},
                    {"type": "event", "timestamp": NOW, "kind": "processes", "data": {"processes": [{"pid": 1}]}},
                    {"type": "event", "timestamp": NOW, "kind": "command.state",
                     "data": {"request_id": "r-1", "status": "running"}}],
    AgentUp.RESPONSE: [{"type": "response", "request_id": "r-1", "success": True, "data": {"ok": 1}},
                       {"type": "response", "request_id": "r-1", "success": False, "error": "no",
                        "error_code": "internal"}],
}  # fmt: skip
AGENTS = st.sampled_from(["agent-1", "agent-2", "never-seen", "a" * 64])


class Lms:
    """The LMS's agent-facing handlers wired as the LMS wires them (``edge.lms.service_steps``), over one store."""

    def __init__(self, path: Path) -> None:
        self.store = Store(path).open()
        self.registry = Registry(self.store, presence_timeout_s=3600)
        self.registry.load()
        self.registry.start()
        self.events = AgentEvents(self.store, namespace=Namespace("demo", "dev"), site_id="s1").start()
        self.history = MetricsHistory(self.store, retention_days=1).start()
        self.registry.add_event_listener(self.events.add)
        self.registry.add_metrics_listener(self.history.add)

    def flush(self) -> None:
        assert self.registry.flush(10) and self.events.flush(10) and self.history.flush(10)

    def rows(self) -> dict[str, Any]:
        return {
            "events": self.store.query("SELECT * FROM events ORDER BY id", ()),
            "metrics": self.store.query("SELECT * FROM metrics ORDER BY rowid", ()),
            "settings": dict(self.store.query("SELECT uuid, settings FROM clients", ())),
        }

    def pages(self, agent_id: str) -> list[Any]:
        """What the API would answer about ``agent_id`` (and the events page)."""
        view = self.registry.get(agent_id)
        latest = self.registry.latest_metrics(agent_id)
        return [
            view.to_dict(with_settings=True) if view is not None else None,
            latest.model_dump(mode="json", exclude_none=True) if latest is not None else None,
            self.history.query(agent_id),
            self.events.processes(agent_id),
            self.events.recent(limit=1000),
            self.events.progress.recent(None, 100),
        ]

    def close(self) -> None:
        self.history.stop()
        self.events.stop()
        self.registry.stop()
        self.store.close()


@pytest.fixture(scope="module")
def lms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lms]:
    lms = Lms(tmp_path_factory.mktemp("fuzz-lms") / "lms.db")
    yield lms
    lms.close()


def strict_json(value: Any) -> str:
    """What FastAPI does with a route's answer: pydantic serialises it for the route's declared return type (and
    gives up ~255 levels down), ``jsonable_encoder`` walks it, JSONResponse writes it with ``allow_nan=False``."""
    return json.dumps(jsonable_encoder(TypeAdapter(Any).dump_python(value, mode="json")), allow_nan=False)


def feed(lms: Lms, agent_id: str, channel: AgentUp, payload: bytes) -> None:
    before_bad = lms.registry.stats.bad_payloads
    before = lms.rows()
    lms.registry.handle(IncomingMessage(topics.agent_up(agent_id, channel), payload, 1, False))
    lms.flush()
    if lms.registry.stats.bad_payloads > before_bad:  # refused: no event or sample stored, no setting changed
        after = lms.rows()
        # nothing added (rows may go meanwhile: the history's pruner removes the seeds' old samples once a minute)
        for table in ("events", "metrics"):
            assert not set(after[table]) - set(before[table]), f"a refused message stored {table}"
        assert all(after["settings"].get(agent) == value for agent, value in before["settings"].items())
    for page in lms.pages(agent_id):
        strict_json(page)


@pytest.mark.parametrize("channel", [c for c in AgentUp if c is not AgentUp.RESPONSE], ids=str)
def test_fuzz_registry_channels(lms: Lms, channel: AgentUp) -> None:
    @given(agent_id=AGENTS, payload=payloads(*VALID[channel]))
    @example(agent_id="agent-1", payload=dumps({**VALID[AgentUp.EVENT][0], "data": nest(300)}))
    @example(agent_id="agent-1", payload=dumps({**VALID[AgentUp.METRICS][0], "load": [float("nan"), 0, 0]}))
    @example(agent_id="agent-1", payload=dumps({**VALID[AgentUp.METRICS][0], "timestamp": float("inf")}))
    @example(agent_id="agent-1", payload=dumps({**VALID[AgentUp.METRICS][0], "mem_total": 2**64}))
    @example(agent_id="agent-1", payload=dumps({**VALID[AgentUp.EVENT][1], "data": {"cpu": float("-inf")}}))
    def run(agent_id: str, payload: bytes) -> None:
        tally(f"LMS ct/agent/+/up/{channel.value}")
        feed(lms, agent_id, channel, payload)
        feed(lms, agent_id, channel, payload)  # delivered again (QoS 1 delivers at least once; or a replay)

    run()


def test_fuzz_response_channel(tmp_path: Path) -> None:
    """The router's response handler (its MQTT side only: a response matches a pending command or is dropped)."""
    from edge.lms.commands.router import Router

    with Store(tmp_path / "lms.db") as store:
        registry = Registry(store, presence_timeout_s=3600)
        router = Router.__new__(Router)  # only the response path: no broker, nothing pending
        router.__dict__.update(_registry=registry, _pending={}, on_late=None, stats=type("S", (), {"bad_responses": 0,
                               "late_responses": 0})())  # fmt: skip

        @given(agent_id=AGENTS, payload=payloads(*VALID[AgentUp.RESPONSE]))
        def run(agent_id: str, payload: bytes) -> None:
            tally("LMS ct/agent/+/up/response")
            router._on_response(IncomingMessage(topics.agent_up(agent_id, AgentUp.RESPONSE), payload, 1, False))

        run()
