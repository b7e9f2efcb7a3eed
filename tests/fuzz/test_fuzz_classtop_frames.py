"""Fuzz the frames the LMS receives from ClassTop clients on ``/ws/{client_uuid}`` (docs/classtop.md), through the
hub's own frame handler with a registered client: state updates, heartbeats, responses, camera frames, and
anything else.

The property: the handler raises nothing; the client's settings stay strings the API can show; a ``response``
whose ``request_id`` the LMS could have sent completes that command exactly once — with the answer, or failed with
a clear reason when the answer is unfit to keep (nested too deep, NaN) — so the caller is never left waiting.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given

from edge.lms.agents import Registry
from edge.lms.config import ClassTopSettings
from edge.lms.legacy.admission import Admissions
from edge.lms.legacy.hub import LegacyHub, _Connection
from edge.lms.legacy.ratelimit import Bucket
from edge.lms.store import Store
from shared.messages import AgentKind, Response
from tests.fuzz.payloads import dumps, nest, payloads
from tests.fuzz.tally import tally

CLIENT = "classtop-1"
FRAMES: list[dict[str, Any]] = [
    {"type": "state_update", "data": {"settings": {"client_name": "room 1", "theme_mode": "dark"}}},
    {"type": "heartbeat"},
    {"type": "response", "request_id": "r-1", "success": True, "data": {"theme_mode": "dark"}},
    {"type": "response", "request_id": "r-1", "success": False, "error": "Unknown command: x"},
    {"type": "camera_frame", "camera_index": 0, "frame": "aGVsbG8="},
]


class Router:
    """Records what the hub completes (the real router's matching is tested elsewhere)."""

    def __init__(self) -> None:
        self.completed: list[tuple[str, Response]] = []

    def complete(self, agent_id: str, response: Response) -> bool:
        self.completed.append((agent_id, response))
        return True


class Hub:
    def __init__(self, path: Path) -> None:
        self.store = Store(path).open()
        self.registry = Registry(self.store, presence_timeout_s=3600)
        self.router = Router()
        settings = ClassTopSettings(client_policy="open", frames_per_second=10_000)
        admissions = Admissions(self.store, self.registry, settings).load()
        self.hub = LegacyHub(self.registry, self.router, admissions)  # type: ignore[arg-type]
        assert self.registry.connected(CLIENT, kind=AgentKind.LEGACY.value)
        self.conn = _Connection(CLIENT, None, None, "127.0.0.1", Bucket(1e9, 1e9), registered=True)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    hub = Hub(tmp_path_factory.mktemp("fuzz-hub") / "lms.db")
    yield hub
    hub.store.close()


def usable_request_id(raw: bytes) -> str | None:
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(body, dict) or body.get("type") != "response" or not isinstance(body.get("success"), bool):
        return None
    rid = body.get("request_id")
    return rid if isinstance(rid, str) and rid and len(rid) < 100 and rid.replace("-", "").isalnum() else None


@given(raw=payloads(*FRAMES))
@example(raw=dumps({**FRAMES[2], "data": nest(300)}))
@example(raw=dumps({**FRAMES[2], "data": {"x": float("nan")}}))
@example(raw=dumps({**FRAMES[0], "data": {"settings": {"a": nest(500)}}}))
@example(raw=("[" * 5000 + "]" * 5000).encode())
def test_fuzz_classtop_frames(hub: Hub, raw: bytes) -> None:
    tally("LMS /ws/{client_uuid} frames")
    before = len(hub.router.completed)
    hub.hub._on_frame(hub.conn, raw)
    view = hub.registry.get(CLIENT)
    assert view is not None
    settings: Any = view.settings or {}
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in settings.items())
    json.dumps(view.to_dict(with_settings=True), allow_nan=False)
    completed = hub.router.completed[before:]
    rid = usable_request_id(raw)
    if rid is not None and rid[0].isalnum():
        assert len(completed) == 1 and completed[0][1].request_id == rid, completed
        answer = completed[0][1]
        assert answer.success or answer.error
        json.dumps(json.loads(answer.model_dump_json()), allow_nan=False)
    assert len(completed) <= 1
