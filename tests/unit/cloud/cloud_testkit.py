"""Helpers of the cloud plane's unit tests (a uniquely named module: test files import it by name).

The region and fake credentials are set before the app is imported (boto3 reads them when a client is made).
"""

from __future__ import annotations

import os

os.environ.update(
    AWS_DEFAULT_REGION="us-east-1",
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SECURITY_TOKEN="testing",
    AWS_SESSION_TOKEN="testing",
)

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app import app
from chalice.test import Client
from moto import mock_aws

from chalicelib import container, models
from chalicelib.adapters.iot import RecordingPublisher
from chalicelib.config import Settings
from chalicelib.domain.token import Role

CLOUD_DIR = Path(__file__).resolve().parents[3] / "cloud"
TENANT = "demo"
SETTINGS = Settings(tenant=TENANT, stage="test", region="us-east-1")
T0 = 1_700_000_000.0


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Cloud:
    """The app under test plus its injected adapters and one bearer token per role."""

    client: Client
    publisher: RecordingPublisher
    clock: FakeClock
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, role: str | None = "admin") -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if role is not None:
            headers["Authorization"] = f"Bearer {self.tokens[role]}"
        return headers

    def get(self, path: str, role: str | None = "admin") -> Any:
        return self.client.http.get(path, headers=self.headers(role))

    def post(self, path: str, body: Any, role: str | None = "admin") -> Any:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.client.http.post(path, headers=self.headers(role), body=raw)

    def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        payload: dict[str, Any] = self.client.lambda_.invoke(function, event).payload
        return payload

    def heartbeat(
        self, site_id: str, agents: list[dict[str, Any]], *, ts: float | None = None, full: bool = True,
        lms_version: str = "1.0.0",
    ) -> dict[str, Any]:
        event = {
            "type": "site_heartbeat", "v": 1, "timestamp": self.clock.now if ts is None else ts,
            "lms_version": lms_version, "full": full, "agents": agents, "site_id": site_id,
        }
        return self.invoke("site_heartbeat", event)

    def results(self, site_id: str, results: list[dict[str, Any]]) -> dict[str, Any]:
        stamped = [{"timestamp": self.clock.now, **r} for r in results]
        event = {"type": "command_results", "v": 1, "results": stamped, "site_id": site_id}
        return self.invoke("command_results", event)


def online(agent_id: str, **extra: Any) -> dict[str, Any]:
    return {"agent_id": agent_id, "status": "online", **extra}


@contextmanager
def running_cloud() -> Iterator[Cloud]:
    """The app on in-process moto: tables created, a :class:`RecordingPublisher` and a settable clock
    injected through ``chalicelib.container.configure``, one token per role."""
    publisher = RecordingPublisher()
    clock = FakeClock()
    with mock_aws():
        container.reset()
        try:
            container.configure(settings=SETTINGS, publisher=publisher, clock=clock)
            models.create_tables(SETTINGS)
            tokens = container.get().tokens
            secrets = {role.value: tokens.create(role, f"test-{role.value}").secret for role in Role}
            with Client(app, stage_name="dev", project_dir=str(CLOUD_DIR)) as client:
                yield Cloud(client, publisher, clock, secrets)
        finally:
            container.reset()
