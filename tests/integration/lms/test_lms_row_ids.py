"""Integer ids in the LMS's paths (issue 17): every route whose path holds an integer answers a 422 for ids beyond
SQLite's 64-bit integers (2^63 and more), zero and negatives, and a 404 (or its own 4xx) for an unknown id in range
— never a 500 (an ``OverflowError`` on its way into SQLite). The routes are read from the running LMS's own
OpenAPI document, so a route added later is covered too."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.fixtures.brokers import Broker
from tests.integration.lms.lms_harness import LmsFactory

pytestmark = pytest.mark.integration

OUT_OF_RANGE = [2**63, 2**64, 10**30, 0, -1]
#: the routes the issue names (each must be among those found)
NAMED = {("delete", "/api/commands/queue/{item_id}"), ("delete", "/api/tokens/{token_id}"),
         ("post", "/api/cloud/dead-letters/{dead_id}/retry")}  # fmt: skip


def integer_routes(document: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
    out = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            params = operation.get("parameters", [])
            ints = [p["name"] for p in params if p["in"] == "path" and p.get("schema", {}).get("type") == "integer"]
            if ints:
                out.append((method, path, ints))
    return out


def fill(path: str, names: list[str], value: int) -> str:
    return re.sub(r"{(\w+)}", lambda m: str(value) if m.group(1) in names else "agent-1", path)


def test_integer_path_ids_beyond_sqlite_are_refused_not_crashing(lms_factory: LmsFactory, cloud_broker: Broker) -> None:
    lms = lms_factory(cloud_broker.port).start()  # with a cloud link: its dead letters are real
    document = lms.http.get("/openapi.json").json()
    routes = integer_routes(document)
    assert {(m, p) for m, p, _ in routes} >= NAMED, routes
    for method, path, names in routes:
        for value in [*OUT_OF_RANGE, 2**63 - 1]:
            url = fill(path, names, value)
            answer = lms.http.request(method.upper(), url, json={} if method in ("post", "put") else None)
            assert answer.status_code < 500, (method, url, answer.status_code, answer.text)
            if value in OUT_OF_RANGE:
                assert answer.status_code == 422, (method, url, answer.text)
            else:
                assert answer.status_code in (404, 409, 422), (method, url, answer.text)
        schema = next(p["schema"] for p in document["paths"][path][method]["parameters"] if p["name"] == names[0])
        assert schema.get("maximum", 2**63) <= 2**63 - 1 and schema.get("minimum") == 1, (path, schema)
    assert "Traceback" not in lms.log()
