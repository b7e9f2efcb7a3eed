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

import dataclasses
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore.client
import pynamodb.models
import requests
from app import app
from chalice.test import Client
from moto import mock_aws

from chalicelib import container, models
from chalicelib.adapters.iot import RecordingPublisher
from chalicelib.adapters.registry import IotRegistry
from chalicelib.config import Settings
from chalicelib.domain.token import Role
from chalicelib.handlers import RULE_HANDLERS
from infra.aws.rules import event_for, rule_for_handler
from shared.topics import is_valid_id, site_up
from tests.fixtures import moto_iot_csr

moto_iot_csr.install()  # moto signs a key of its own for a CSR; AWS signs the CSR's key

CLOUD_DIR = Path(__file__).resolve().parents[3] / "cloud"
TENANT = "demo"
#: the overview's bucket (``services/overview_feed.py``): made in moto by :func:`running_cloud`
OVERVIEW_BUCKET = "classtop-test-overview"
SETTINGS = Settings(tenant=TENANT, stage="test", region="us-east-1", overview_bucket=OVERVIEW_BUCKET)
NS = SETTINGS.namespace
T0 = 1_700_000_000.0


class ScanOnRequestPath(AssertionError):
    """A handler scanned a table while serving a request."""


_guard = threading.local()
_real_make_api_call = botocore.client.BaseClient._make_api_call  # type: ignore[attr-defined]  # not in botocore-stubs
_real_scan = pynamodb.models.Model.scan


def _violation(message: str) -> ScanOnRequestPath:
    # remembered as well as raised: the API maps unexpected exceptions to a 500, which a test might not check
    _guard.violations = [*getattr(_guard, "violations", []), message]
    return ScanOnRequestPath(message)


def _guarded_make_api_call(self: Any, operation_name: str, api_params: Any) -> Any:
    if operation_name == "Scan" and getattr(_guard, "active", False):
        raise _violation(f"DynamoDB Scan on a request path: {api_params.get('TableName')}")
    return _real_make_api_call(self, operation_name, api_params)


def _guarded_scan(cls: Any, *args: Any, **kwargs: Any) -> Any:
    if getattr(_guard, "active", False):
        raise _violation(f"{cls.__name__}.scan() on a request path")
    return _real_scan.__func__(cls, *args, **kwargs)  # type: ignore[attr-defined]


botocore.client.BaseClient._make_api_call = _guarded_make_api_call  # type: ignore[attr-defined]
pynamodb.models.Model.scan = classmethod(_guarded_scan)  # type: ignore[assignment,method-assign]


@contextmanager
def no_scans() -> Iterator[None]:
    """Every DynamoDB Scan (botocore or PynamoDB) raises :class:`ScanOnRequestPath` inside this block, and the
    block fails on exit if one was attempted (even if the code under test swallowed the exception). The
    :class:`Cloud` helpers run every request and handler invocation inside it."""
    previous = getattr(_guard, "active", False)
    _guard.active = True
    _guard.violations = []
    try:
        yield
    finally:
        _guard.active = previous
        violations, _guard.violations = getattr(_guard, "violations", []), []
    if violations:
        raise ScanOnRequestPath("; ".join(violations))


#: how a request is made: ``call(client, operation, params)``
AwsCall = Callable[[Any, str, Any], Any]


@contextmanager
def around_aws_calls(around: Callable[[AwsCall, Any, str, Any], Any]) -> Iterator[None]:
    """Every AWS request made inside the block goes through ``around(call, client, operation, params)``, which makes
    it with ``call`` (or not)."""
    underneath = botocore.client.BaseClient._make_api_call  # type: ignore[attr-defined]  # not in botocore-stubs

    def through(self: Any, operation: str, params: Any) -> Any:
        return around(underneath, self, operation, params)

    botocore.client.BaseClient._make_api_call = through  # type: ignore[attr-defined]
    try:
        yield
    finally:
        botocore.client.BaseClient._make_api_call = underneath  # type: ignore[attr-defined]


@contextmanager
def dynamo_traffic() -> Iterator[dict[str, Any]]:
    """DynamoDB traffic inside the block: ``items`` read (the items GetItem, Query and BatchGetItem return, as
    bench/cloud_cost.py counts them), ``tables`` the same per table name, and ``summary_updates`` the overview
    summary's UpdateItems."""
    seen: dict[str, Any] = {"items": 0, "tables": {}, "summary_updates": 0}

    def record(call: AwsCall, client: Any, operation: str, params: Any) -> Any:
        response = call(client, operation, params)
        if operation in ("GetItem", "Query"):
            counted = {params["TableName"]: len(response.get("Items") or ([1] if response.get("Item") else []))}
        elif operation == "BatchGetItem":
            counted = {table: len(rows) for table, rows in response.get("Responses", {}).items()}
        else:
            counted = {}
        for table, n in counted.items():
            seen["items"] += n
            seen["tables"][table] = seen["tables"].get(table, 0) + n
        if operation == "UpdateItem" and params["Key"].get("area", {}).get("S", "").startswith("site_summary#"):
            seen["summary_updates"] += 1
        return response

    with around_aws_calls(record):
        yield seen


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

    def request(self, method: str, path: str, body: Any = None, role: str | None = "admin",
                headers: dict[str, str] | None = None) -> Any:
        all_headers = {**self.headers(role), **(headers or {})}
        raw = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
        with no_scans():
            return self.client.http.request(method, path, headers=all_headers, body=raw)

    def get(self, path: str, role: str | None = "admin") -> Any:
        return self.request("GET", path, role=role)

    def post(self, path: str, body: Any, role: str | None = "admin") -> Any:
        return self.request("POST", path, body, role)

    def put(self, path: str, body: Any, role: str | None = "admin") -> Any:
        return self.request("PUT", path, body, role)

    def delete(self, path: str, role: str | None = "admin") -> Any:
        return self.request("DELETE", path, role=role)

    def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        """Invoke ``function``; for a rule handler, ``event`` is the message plus the ``site_id`` of the topic it
        is published on, and the handler gets what the topic rule makes of it (:func:`rule_event`)."""
        if function in RULE_HANDLERS:
            event = rule_event(function, event)
        with no_scans():
            payload: dict[str, Any] = self.client.lambda_.invoke(function, event).payload
        return payload

    def heartbeat(
        self, site_id: str, agents: list[dict[str, Any]], *, ts: float | None = None, full: bool = True,
        lms_version: str = "1.0.0", period_s: float | None = None,
    ) -> dict[str, Any]:
        """``period_s``: the full heartbeat period the LMS states (None: an older LMS, which states none)."""
        event = {
            "type": "site_heartbeat", "v": 1, "timestamp": self.clock.now if ts is None else ts,
            "lms_version": lms_version, "full": full, "agents": agents, "site_id": site_id,
        }
        if period_s is not None:
            event["full_period_s"] = period_s
        return self.invoke("site_heartbeat", event)

    def results(self, site_id: str, results: list[dict[str, Any]]) -> dict[str, Any]:
        stamped = [{"timestamp": self.clock.now, **r} for r in results]
        event = {"type": "command_results", "v": 1, "results": stamped, "site_id": site_id}
        return self.invoke("command_results", event)


def rule_event(function: str, message: Any) -> Any:
    """The event IoT Core's rule hands ``function`` for ``message`` minus its ``site_id``, published on that
    site's topic. Without a usable ``site_id`` the message is handed over as it is (the handler refuses it)."""
    site_id = message.get("site_id") if isinstance(message, dict) else None
    if not isinstance(site_id, str) or not is_valid_id(site_id):
        return message
    rule = rule_for_handler(function)
    assert rule.channel is not None, f"{function} takes IoT Core's lifecycle events, not a site's messages"
    body = {k: v for k, v in message.items() if k != "site_id"}
    return event_for(rule, site_up(NS, site_id, rule.channel), json.dumps(body).encode())


def online(agent_id: str, **extra: Any) -> dict[str, Any]:
    return {"agent_id": agent_id, "status": "online", **extra}


_iot: list[Any] = []
_s3: list[Any] = []


def s3_client() -> Any:
    """One boto3 ``s3`` client for every test (moto intercepts it in each mock)."""
    if not _s3:
        _s3.append(boto3.client("s3", region_name=SETTINGS.region))
    return _s3[0]


def fetch_object(url: str) -> Any:
    """What a browser gets from a presigned S3 URL (moto's S3: ``requests`` is intercepted like botocore), as JSON."""
    answer = requests.get(url, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def iot_client() -> Any:
    """One boto3 ``iot`` client for every test (making one costs ~0.5 s; moto intercepts it in each mock)."""
    if not _iot:
        _iot.append(boto3.client("iot", region_name=SETTINGS.region))
    return _iot[0]


@contextmanager
def running_cloud(**settings: Any) -> Iterator[Cloud]:
    """The app on in-process moto: tables created, a :class:`RecordingPublisher` and a settable clock
    injected through ``chalicelib.container.configure``, one token per role. ``settings`` override
    :data:`SETTINGS` fields."""
    publisher = RecordingPublisher()
    clock = FakeClock()
    chosen = dataclasses.replace(SETTINGS, **settings)
    with mock_aws():
        container.reset()
        try:
            container.configure(settings=chosen, publisher=publisher, clock=clock)
            iot = iot_client()
            container.configure(issuer=IotRegistry(iot))
            models.create_tables(chosen)
            if chosen.overview_bucket:  # what the template's OverviewBucket is in AWS
                s3_client().create_bucket(Bucket=chosen.overview_bucket)
            iot.create_policy(
                policyName=chosen.iot_site_policy, policyDocument='{"Version": "2012-10-17", "Statement": []}')
            tokens = container.get().tokens
            secrets = {role.value: tokens.create(role, f"test-{role.value}").secret for role in Role}
            with Client(app, stage_name="dev", project_dir=str(CLOUD_DIR)) as client:
                yield Cloud(client, publisher, clock, secrets)
        finally:
            container.reset()
