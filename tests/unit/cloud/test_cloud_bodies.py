"""Hostile bodies on every cloud route (item 16 of the trust review, cloud half): deeply nested JSON and bodies over
the limit get a clear 400 / 413 on every route that takes a body — the anonymous ones too — and never a 500."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from app import app

from chalicelib.api import ROUTES
from chalicelib.api.http import MAX_JSON_DEPTH
from chalicelib.api.routes import Access
from tests.unit.cloud.cloud_testkit import Cloud, online, running_cloud

ACCESS = {(r.method, r.path): r.access for r in ROUTES}
BODIES = {(r.method, r.path) for r in ROUTES if r.body is not None}
ROUTE_KEYS = sorted((method, path) for path, entries in app.routes.items() for method in entries)


@pytest.fixture(scope="module")
def site() -> Iterator[Cloud]:
    with running_cloud(client_policy="open", lms_policy="open") as cloud:
        cloud.heartbeat("s1", [online("a1")])
        lms = {"lms_uuid": "lms-m", "name": "m", "host": "h", "port": 8000, "version": "1"}
        cloud.tokens["lms"] = cloud.post("/api/lms/register", lms, role=None).json_body["data"]["api_key"]
        yield cloud


def _caller(method: str, path: str) -> str | None:
    access = ACCESS[(method, path)]
    return {Access.PUBLIC: None, Access.ENROLMENT: None, Access.LMS_KEY: "lms"}.get(access, "admin")


def _send(cloud: Cloud, method: str, path: str, body: bytes) -> tuple[int, dict[str, object]]:
    fill = {"agent_id": "a1", "email": "someone%40example.org"}  # each path id a valid one: the body is what is tested
    concrete = re.sub(r"{(\w+)}", lambda m: fill.get(m.group(1), "x1"), path)
    response = cloud.request(method, concrete, body, role=_caller(method, path))
    return response.status_code, response.json_body


@pytest.mark.parametrize(("method", "path"), ROUTE_KEYS, ids=lambda v: v)
def test_deep_json_and_big_bodies_get_clear_errors_cloud(site: Cloud, method: str, path: str) -> None:
    deep = b"[" * 20_000
    status, body = _send(site, method, path, deep)
    assert status != 500, body
    if (method, path) in BODIES or (method, path) == ("POST", "/api/tokens"):
        assert status == 400, body
        error = body["error"]
        assert isinstance(error, dict) and error["code"] == "bad_json" and "nest" in str(error["message"]), body

        # valid JSON, nested deeper than the API accepts anywhere in the body
        nested = json.dumps({"command": "ping", "agent_id": "a1", "params": {"v": [[0]]}}).replace(
            "[[0]]", "[" * MAX_JSON_DEPTH + "0" + "]" * MAX_JSON_DEPTH).encode()
        status, body = _send(site, method, path, nested)
        assert status == 400 and "nest" in str(body["error"]), body

        big = b'{"padding": "' + b"x" * (256 * 1024) + b'"}'
        status, body = _send(site, method, path, big)
        assert status == 413, body
        assert body["error"]["code"] == "payload_too_large", body  # type: ignore[index]


DEEP_VALID = [("[" * 5000 + "]" * 5000).encode(), ('{"a":' * 5000 + "1" + "}" * 5000).encode()]


@pytest.mark.parametrize(("method", "path"), ROUTE_KEYS, ids=lambda v: v)
def test_deep_valid_json_is_a_clear_400_on_every_route_cloud(site: Cloud, method: str, path: str) -> None:
    """Issue 17: 5,000 levels of valid JSON (arrays, then objects) never reach a parser's recursion limit as a 500;
    a route that reads a body answers 400 ``bad_json`` naming the nesting."""
    for deep in DEEP_VALID:
        status, body = _send(site, method, path, deep)
        assert status != 500, body
        if (method, path) in BODIES:
            assert status == 400 and body["error"]["code"] == "bad_json", body  # type: ignore[index]
            assert "nest" in str(body["error"]), body


@pytest.mark.parametrize(("method", "path"), [k for k in ROUTE_KEYS if "{" in k[1]], ids=lambda v: v)
def test_an_invalid_path_id_is_a_documented_400_cloud(site: Cloud, method: str, path: str) -> None:
    """Issue 17: every status a route answers to an invalid id in its path is in the OpenAPI document (the public
    ``/api/clients/{uuid}/courses|schedule`` answered an undocumented 400)."""
    from chalicelib.api.openapi import build_document

    concrete = re.sub(r"{(\w+)}", "bad%20id!", path)
    response = site.request(method, concrete, b"{}", role=_caller(method, path))
    documented = build_document()["paths"][path][method.lower()]["responses"]
    assert response.status_code != 500, response.json_body
    assert str(response.status_code) in documented, (response.status_code, response.json_body, sorted(documented))
