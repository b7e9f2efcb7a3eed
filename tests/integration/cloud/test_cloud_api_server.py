"""The local cloud's HTTP server (``infra/local/api_server.py``) answers a method the document does not list with
405, an ``Allow`` header and the API's error envelope (issue 17: schemathesis's ``TRACE`` and ``QUERY`` got an HTML
501 from Chalice's local server, a server error)."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.fixtures.local_cloud import LocalCloudProcess, running_local_cloud

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def local_cloud() -> Iterator[LocalCloudProcess]:
    with running_local_cloud("api-server-") as cloud:
        yield cloud


def call(cloud: LocalCloudProcess, method: str, path: str,
         token: str | None = None) -> tuple[int, dict[str, str], bytes]:  # fmt: skip
    url = urlsplit(cloud.api_url)
    connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
    try:
        connection.request(method, path, headers={"Authorization": f"Bearer {token}"} if token else {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize("method", ["TRACE", "QUERY", "PATCH", "DELETE"])
def test_an_undeclared_method_is_a_405_with_allow(local_cloud: LocalCloudProcess, method: str) -> None:
    status, headers, body = call(local_cloud, method, "/api/health")
    assert status == 405 and headers["allow"] == "GET"
    assert json.loads(body)["error"]["code"] == "not_supported"
    status, headers, _ = call(local_cloud, method, "/api/agents/pc-1/tags", local_cloud.admin_token)
    assert status == 405 and headers["allow"] == "PUT"


def test_declared_methods_still_reach_the_app(local_cloud: LocalCloudProcess) -> None:
    status, _, body = call(local_cloud, "GET", "/api/health")
    assert status == 200 and json.loads(body)["data"]["status"] == "ok"
    status, _, _ = call(local_cloud, "GET", "/api/agents/pc-1", local_cloud.admin_token)
    assert status == 404
    status, _, _ = call(local_cloud, "GET", "/api/no-such-path")
    assert status == 403  # as API Gateway: an unknown path ("Missing Authentication Token")
