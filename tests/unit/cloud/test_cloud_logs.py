"""Logs on request (docs/logs.md): ``POST /api/agents/{id}/logs`` sends ``get_logs`` with a presigned POST for one
key, ``POST /api/sites/{id}/logs`` a ``log_request`` to the LMS; ``GET /api/logs/{id}`` says where it stands and,
once the object is in the bucket, gives a download link — only to callers whose token sees the site.

The attacker's view: the form binds one key, ``application/gzip``, 1..max_bytes bytes and 5 minutes; an agent
cannot write another's object (another key, another signature); nobody but the cloud may name the upload; another
site's operator learns nothing (404)."""

from __future__ import annotations

import base64
import gzip
import json
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import boto3
import pytest

from chalicelib import container
from chalicelib.domain.token import Role
from chalicelib.services.commands import REDACTED
from shared.log_export import PresignedPost, upload
from shared.messages import LogRequest, SiteCommand, decode
from shared.topics import SiteDown, site_down
from tests.unit.cloud.cloud_testkit import NS, SETTINGS, T0, Cloud, online, running_cloud

BUCKET = "classtop-demo-test-media"
LINES = b"2023-11-14T22:13:20.000Z INFO edge.agent.x [MainThread] hello\n"


def _fleet(cloud: Cloud) -> Cloud:
    cloud.heartbeat("s1", [online("a1")])
    cloud.heartbeat("s2", [online("b1")])
    return cloud


@pytest.fixture
def cloud(moto_url: str) -> Iterator[Cloud]:  # tests/fixtures/moto_server.py
    with running_cloud(media_bucket=BUCKET, aws_endpoint=moto_url) as cloud:
        s3 = boto3.client("s3", region_name=SETTINGS.region, endpoint_url=moto_url)
        if BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
            s3.create_bucket(Bucket=BUCKET)
        yield _fleet(cloud)


def _command(cloud: Cloud) -> SiteCommand:
    assert len(cloud.publisher.messages) == 1
    message = cloud.publisher.messages[0]
    assert message.topic == site_down(NS, "s1")
    return decode(SiteCommand, message.payload)


def _policy(form: PresignedPost) -> dict[str, Any]:
    policy: dict[str, Any] = json.loads(base64.b64decode(form.fields["policy"]))
    return policy


def _conditions(form: PresignedPost) -> list[Any]:
    conditions: list[Any] = _policy(form)["conditions"]
    return conditions


def _get(cloud: Cloud, request_id: str, role: str = "operator") -> Any:
    return cloud.get(f"/api/logs/{request_id}", role=role)


def test_agent_logs_travel_as_get_logs_with_a_form_for_one_key(cloud: Cloud) -> None:
    body = {"since": T0 - 600, "until": T0, "level": "WARNING", "max_bytes": 65536}
    response = cloud.post("/api/agents/a1/logs", body, role="operator")
    assert response.status_code == 202, response.json_body
    data = response.json_body["data"]
    request_id = data["request_id"]
    assert data["status"] == "pending" and data["source"] == "agent" and data["site_id"] == "s1"
    assert data["key"] == f"logs/s1/agents/a1/{request_id}.log.gz"
    assert "download_url" not in data

    command = _command(cloud)
    assert command.command == "get_logs" and command.targets == ["a1"] and command.request_id == request_id
    assert command.timeout_s == 120  # an upload from a school's uplink may take longer than a command's 30 s
    form = PresignedPost.model_validate(command.params["upload"])
    assert {k: command.params[k] for k in body} == body
    assert form.fields["key"] == data["key"] and form.fields["Content-Type"] == "application/gzip"
    conditions = _conditions(form)
    assert {"key": data["key"]} in conditions and {"bucket": BUCKET} in conditions
    assert ["content-length-range", 1, 65536] in conditions
    assert {"Content-Type": "application/gzip"} in conditions
    expiry = datetime.fromisoformat(_policy(form)["expiration"].replace("Z", "+00:00")).timestamp()
    signed = datetime.strptime(form.fields["x-amz-date"], "%Y%m%dT%H%M%SZ").timestamp()
    assert 0 < expiry - signed <= 301  # short: five minutes

    # the form is a credential: only the agent sees it; the command record and history show it redacted
    record = cloud.get(f"/api/commands/{request_id}", role="viewer").json_body
    history = cloud.get("/api/agents/a1/commands", role="viewer").json_body
    for shown in (record, history, data):
        text = json.dumps(shown)
        assert form.fields["x-amz-signature"] not in text and form.fields["policy"] not in text
    assert record["data"]["params"]["upload"] == REDACTED


def test_the_upload_lands_and_the_link_downloads_the_lines(cloud: Cloud) -> None:
    request_id = cloud.post("/api/agents/a1/logs", {}, role="operator").json_body["data"]["request_id"]
    command = _command(cloud)
    assert command.params["since"] == T0 - 3600  # no range given: the last hour
    form = PresignedPost.model_validate(command.params["upload"])
    assert upload(form, gzip.compress(LINES)) == 204  # what the agent does with the command

    data = _get(cloud, request_id).json_body["data"]
    assert data["status"] == "uploaded" and data["size"] == len(gzip.compress(LINES))
    assert data["download_expires_in"] == 900
    with urllib.request.urlopen(data["download_url"], timeout=10) as download:
        assert gzip.decompress(download.read()) == LINES
    # the agent's answer, as the LMS reports it, shows beside it
    cloud.results("s1", [{"request_id": request_id, "agent_id": "a1", "status": "succeeded", "success": True,
                          "data": {"uploaded": True, "lines": 1, "bytes": 40, "truncated": False}}])
    assert _get(cloud, request_id).json_body["data"]["result"]["data"]["lines"] == 1


def test_failure_and_expiry_are_reported(cloud: Cloud) -> None:
    failing = cloud.post("/api/agents/a1/logs", {}, role="operator").json_body["data"]["request_id"]
    cloud.results("s1", [{"request_id": failing, "agent_id": "a1", "status": "failed", "success": False,
                          "error": "log upload refused: HTTP 403 Forbidden", "error_code": "invalid_params"}])
    data = _get(cloud, failing).json_body["data"]
    assert data["status"] == "failed" and "403" in data["error"] and "download_url" not in data

    lms = cloud.post("/api/sites/s1/logs", {}, role="operator").json_body["data"]["request_id"]
    assert _get(cloud, lms).json_body["data"]["status"] == "pending"
    cloud.clock.advance(301)
    data = _get(cloud, lms).json_body["data"]
    assert data["status"] == "expired" and "expired" in data["error"] and "download_url" not in data


def test_lms_logs_travel_as_a_log_request(cloud: Cloud) -> None:
    response = cloud.post("/api/sites/s1/logs", {"since": T0 - 60, "level": "ERROR"}, role="operator")
    assert response.status_code == 202, response.json_body
    data = response.json_body["data"]
    assert data["source"] == "lms" and data["agent_id"] is None
    assert data["key"] == f"logs/s1/lms/{data['request_id']}.log.gz"
    [message] = cloud.publisher.messages
    assert message.topic == site_down(NS, "s1", SiteDown.LOGS)
    request = decode(LogRequest, message.payload)
    assert (request.request_id, request.since, request.until, request.level) == (data["request_id"], T0 - 60,
                                                                                 None, "ERROR")
    assert request.expires_at == T0 + 300 and request.upload.fields["key"] == data["key"]
    assert upload(request.upload, gzip.compress(LINES)) == 204
    assert _get(cloud, data["request_id"]).json_body["data"]["status"] == "uploaded"


def test_two_requests_have_two_keys_and_two_signatures(cloud: Cloud) -> None:
    """One agent cannot overwrite another's object: each form names its own key and is signed for it alone."""
    cloud.heartbeat("s1", [online("a1"), online("a2")])
    first = cloud.post("/api/agents/a1/logs", {}, role="operator").json_body["data"]
    second = cloud.post("/api/agents/a2/logs", {}, role="operator").json_body["data"]
    forms = [PresignedPost.model_validate(decode(SiteCommand, m.payload).params["upload"])
             for m in cloud.publisher.messages]
    assert [f.fields["key"] for f in forms] == [first["key"], second["key"]] and first["key"] != second["key"]
    assert forms[0].fields["x-amz-signature"] != forms[1].fields["x-amz-signature"]
    assert all({"key": f.fields["key"]} in _conditions(f) for f in forms)


@pytest.mark.parametrize(("path", "target"), [("/api/commands", "agent_id"),
                                              ("/api/control/command", "target_client")])
def test_callers_cannot_name_the_upload(cloud: Cloud, path: str, target: str) -> None:
    """Only the cloud makes the form: a caller's ``get_logs`` naming ``upload`` is a 400 and nothing is sent (the
    agent would send its logs wherever it is told)."""
    form = {"url": "http://10.0.0.1/collect", "fields": {"key": "x"}}
    body = {target: "a1", "command": "get_logs", "params": {"upload": form}}
    refused = cloud.post(path, body, role="admin")
    assert refused.status_code == 400 and "upload" in refused.json_body["error"]["message"], refused.json_body
    assert cloud.publisher.messages == []
    refused = cloud.post("/api/agents/a1/logs", {"upload": form}, role="admin")
    assert refused.status_code == 400 and cloud.publisher.messages == []


@pytest.mark.parametrize("body", [
    {"since": -1}, {"level": "NOISY"}, {"max_bytes": 100}, {"max_bytes": 21 * 1024 * 1024},
    {"since": "yesterday"}, {"lines": 10},
])
def test_bad_ranges_are_400_and_store_nothing(cloud: Cloud, body: dict[str, Any]) -> None:
    for path in ("/api/agents/a1/logs", "/api/sites/s1/logs"):
        refused = cloud.post(path, body, role="operator")
        assert refused.status_code == 400, (path, body, refused.json_body)
    assert cloud.publisher.messages == []
    assert cloud.get("/api/agents/a1/commands").json_body["data"]["commands"] == []


def test_roles_and_site_scope(cloud: Cloud) -> None:
    """Viewers may not ask nor download; a token scoped to another site gets 404 for the agent, the site and the
    request (the download link never leaves the site's scope)."""
    assert cloud.post("/api/agents/a1/logs", {}, role="viewer").status_code == 403
    assert cloud.post("/api/sites/s1/logs", {}, role=None).status_code == 401
    request_id = cloud.post("/api/agents/a1/logs", {}, role="operator").json_body["data"]["request_id"]
    assert _get(cloud, request_id, role="viewer").status_code == 403

    tokens = container.get().tokens
    cloud.tokens["s2-op"] = tokens.create(Role.OPERATOR, "s2 only", site_ids=["s2"]).secret
    cloud.tokens["s1-op"] = tokens.create(Role.OPERATOR, "s1 only", site_ids=["s1"]).secret
    sent = len(cloud.publisher.messages)
    for path in ("/api/agents/a1/logs", "/api/sites/s1/logs"):
        assert cloud.post(path, {}, role="s2-op").status_code == 404
    assert len(cloud.publisher.messages) == sent
    hidden = _get(cloud, request_id, role="s2-op")
    assert hidden.status_code == 404 and "download_url" not in json.dumps(hidden.json_body)
    assert _get(cloud, request_id, role="s1-op").status_code == 200
    assert _get(cloud, "no-such-request").status_code == 404
    assert _get(cloud, "bad%20id").status_code in (400, 404)


def test_requests_and_downloads_are_audited(cloud: Cloud) -> None:
    request_id = cloud.post("/api/agents/a1/logs", {}, role="operator").json_body["data"]["request_id"]
    cloud.post("/api/sites/s1/logs", {}, role="operator")
    _get(cloud, request_id)
    entries = cloud.get("/api/audit", role="admin").json_body["data"]["entries"]
    actions = [e["action"] for e in entries]
    assert actions.count("logs.request") == 2 and actions.count("logs.download") == 1


def test_no_media_bucket_is_a_clear_503() -> None:
    with running_cloud() as cloud:
        _fleet(cloud)
        for path in ("/api/agents/a1/logs", "/api/sites/s1/logs"):
            response = cloud.post(path, {}, role="operator")
            assert response.status_code == 503 and "CLASSTOP_MEDIA_BUCKET" in response.json_body["error"]["message"]
        assert cloud.publisher.messages == []
