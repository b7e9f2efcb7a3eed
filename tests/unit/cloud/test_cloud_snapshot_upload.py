"""CCTV snapshots to the cloud: ``POST /api/cctv/agents/{agent}/cameras/{camera}/snapshot`` presigns a PUT and a
GET of ``snapshots/{site}/{agent}/{camera}/{utc}.jpg`` in the media bucket and sends ``cctv_snapshot`` with the
``upload_url``; the agent's own uploader PUTs bytes to a moto server through that URL."""

from __future__ import annotations

import json
import socket
import urllib.request
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

from chalicelib import container
from chalicelib.adapters.media import S3Media
from chalicelib.domain.token import Role
from chalicelib.services.commands import REDACTED
from edge.agent.camera.snapshot import snapshot_data
from shared.messages import SiteCommand, decode
from shared.topics import site_down
from tests.unit.cloud.cloud_testkit import NS, SETTINGS, Cloud, online, running_cloud

BUCKET = "classtop-demo-test-media"
PATH = "/api/cctv/agents/a1/cameras/door/snapshot"
#: T0 (1_700_000_000) in UTC
KEY = "snapshots/s1/a1/door/20231114T221320000Z.jpg"
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8 + b"\xff\xd9"


def _fleet(cloud: Cloud) -> Cloud:
    cloud.heartbeat("s1", [online("a1")])
    cloud.heartbeat("s2", [online("b1")])
    return cloud


@pytest.fixture
def media_cloud() -> Iterator[Cloud]:
    with running_cloud(media_bucket=BUCKET) as cloud:
        boto3.client("s3", region_name=SETTINGS.region).create_bucket(Bucket=BUCKET)
        yield _fleet(cloud)


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def _sent(cloud: Cloud) -> SiteCommand:
    assert len(cloud.publisher.messages) == 1
    message = cloud.publisher.messages[0]
    assert message.topic == site_down(NS, "s1")
    return decode(SiteCommand, message.payload)


def _history(cloud: Cloud) -> list[object]:
    commands: list[object] = cloud.get("/api/agents/a1/commands").json_body["data"]["commands"]
    return commands


def test_snapshot_sends_a_presigned_put_for_the_key(media_cloud: Cloud) -> None:
    response = media_cloud.post(PATH, None, role="operator")
    assert response.status_code == 202, response.json_body
    data = response.json_body["data"]
    assert data["key"] == KEY and data["upload_expires_in"] == 300

    command = _sent(media_cloud)
    assert command.command == "cctv_snapshot" and command.targets == ["a1"]
    assert command.request_id == data["command_id"]
    assert set(command.params) == {"camera_id", "upload_url"} and command.params["camera_id"] == "door"
    put = urlsplit(command.params["upload_url"])
    assert put.scheme == "https" and BUCKET in put.netloc + put.path and put.path.endswith("/" + KEY)
    query = parse_qs(put.query)
    assert query["X-Amz-Expires"] == ["300"] and query["X-Amz-Signature"]
    assert query["X-Amz-SignedHeaders"] == ["content-type;host"]  # the agent must send image/jpeg
    get = urlsplit(data["get_url"])
    assert get.path == put.path and parse_qs(get.query)["X-Amz-Expires"] == ["3600"]
    assert get.query != put.query  # a different signature: a GET URL cannot be used to overwrite

    stored = media_cloud.get(f"/api/commands/{data['command_id']}").json_body["data"]
    assert stored["command"] == "cctv_snapshot" and stored["params"]["camera_id"] == "door"


def test_presigned_upload_url_is_not_shown_in_commands(media_cloud: Cloud) -> None:
    """The PUT URL is a credential for the bucket: only the agent gets it (in the site command); command records,
    histories and the create answer show that there was one, never the URL."""
    data = media_cloud.post(PATH, None, role="operator").json_body["data"]
    url = _sent(media_cloud).params["upload_url"]
    assert url not in json.dumps(data)  # the answer's get_url is a GET of the same key, signed apart
    shown = [
        media_cloud.get(f"/api/commands/{data['command_id']}", role="viewer").json_body,
        media_cloud.get("/api/agents/a1/commands", role="viewer").json_body,
    ]
    for body in shown:
        text = json.dumps(body)
        assert url not in text and "X-Amz-Signature" not in text and "X-Amz-Credential" not in text, body
    record = shown[0]["data"]
    assert record["params"] == {"camera_id": "door", "upload_url": REDACTED}


@pytest.mark.parametrize(("path", "target"), [("/api/commands", "agent_id"),
                                              ("/api/control/command", "target_client")])
def test_users_cannot_set_upload_url(media_cloud: Cloud, path: str, target: str) -> None:
    """SSRF from the agent's LAN: only the snapshot service sets ``upload_url`` (to the tenant bucket's presigned
    URL); a user's command naming one is a 400 and nothing is sent."""
    for url in ("http://10.0.0.1/admin", f"https://{BUCKET}.s3.amazonaws.com/{KEY}?X-Amz-Signature=forged"):
        body = {target: "a1", "command": "cctv_snapshot", "params": {"camera_id": "door", "upload_url": url}}
        refused = media_cloud.post(path, body, role="admin")
        assert refused.status_code == 400, refused.json_body
        assert "upload_url" in refused.json_body["error"]["message"]
    assert media_cloud.publisher.messages == [] and _history(media_cloud) == []
    inline = media_cloud.post(path, {target: "a1", "command": "cctv_snapshot", "params": {"camera_id": "door"}},
                              role="operator")
    assert inline.status_code == 202, inline.json_body  # the inline snapshot (no upload) is still a user command


def test_agent_upload_through_the_url_lands_in_the_bucket(moto_server: str) -> None:
    with running_cloud(media_bucket=BUCKET, aws_endpoint=moto_server) as cloud:
        boto3.client("s3", region_name=SETTINGS.region, endpoint_url=moto_server).create_bucket(Bucket=BUCKET)
        _fleet(cloud)
        response = cloud.post(PATH, {"get_expires_s": 600}, role="operator")
        assert response.status_code == 202, response.json_body
        data = response.json_body["data"]
        assert data["get_expires_in"] == 600 and parse_qs(urlsplit(data["get_url"]).query)["X-Amz-Expires"] == ["600"]
        url = _sent(cloud).params["upload_url"]
        assert url.startswith(f"{moto_server}/{BUCKET}/{KEY}?")

        result = snapshot_data("door", JPEG, url)  # what the agent does with the command
        assert result["uploaded"] is True and result["status"] == 200

        with urllib.request.urlopen(data["get_url"], timeout=10) as download:
            assert download.read() == JPEG
        head = boto3.client("s3", region_name=SETTINGS.region, endpoint_url=moto_server).head_object(
            Bucket=BUCKET, Key=KEY)
        assert head["ContentType"] == "image/jpeg" and head["ContentLength"] == len(JPEG)


def test_refusals_store_no_command(media_cloud: Cloud) -> None:
    assert media_cloud.post(PATH, None, role="viewer").status_code == 403
    assert media_cloud.post(PATH, None, role=None).status_code == 401
    unknown = media_cloud.post("/api/cctv/agents/nobody/cameras/door/snapshot", None, role="operator")
    assert unknown.status_code == 404 and unknown.json_body["error"]["code"] == "unknown_agent"
    bad = media_cloud.post(f"/api/cctv/agents/a1/cameras/{'c' * 40}/snapshot", None, role="operator")
    assert bad.status_code == 400 and "camera_id" in bad.json_body["error"]["message"]
    for body in ({"get_expires_s": 5}, {"upload_url": "http://elsewhere/"}):
        refused = media_cloud.post(PATH, body, role="operator")
        assert refused.status_code == 400 and next(iter(body)) in refused.json_body["error"]["message"]

    scoped = container.get().tokens.create(Role.OPERATOR, "s2 only", site_ids=["s2"]).secret
    media_cloud.tokens["s2"] = scoped
    assert media_cloud.post(PATH, None, role="s2").status_code == 404  # a1 is not visible to it
    assert media_cloud.publisher.messages == [] and _history(media_cloud) == []


def test_no_media_bucket_is_a_clear_503() -> None:
    with running_cloud() as cloud:
        _fleet(cloud)
        response = cloud.post(PATH, None, role="operator")
        assert response.status_code == 503
        error = response.json_body["error"]
        assert error["code"] == "not_supported" and "CLASSTOP_MEDIA_BUCKET" in error["message"]
        assert cloud.post(PATH, None, role="viewer").status_code == 403  # the role check comes first
        assert cloud.publisher.messages == [] and _history(cloud) == []


def test_presign_failure_is_502_and_stores_no_command(media_cloud: Cloud) -> None:
    broken = boto3.client("s3", region_name=SETTINGS.region, config=Config(signature_version="nonexistent"))
    container.configure(media=S3Media(BUCKET, broken))
    _fleet(media_cloud)  # the container is rebuilt: same tables
    response = media_cloud.post(PATH, None, role="operator")
    assert response.status_code == 502
    assert "presign" in response.json_body["error"]["message"]
    assert media_cloud.publisher.messages == [] and _history(media_cloud) == []


def test_settings_read_the_media_bucket() -> None:
    from chalicelib.config import Settings
    from chalicelib.errors import ConfigError

    env = {"CLASSTOP_TENANT": "demo", "AWS_DEFAULT_REGION": "us-east-1"}
    assert Settings.from_env(env).media_bucket is None
    assert Settings.from_env({**env, "CLASSTOP_MEDIA_BUCKET": BUCKET}).media_bucket == BUCKET
    with pytest.raises(ConfigError, match="CLASSTOP_MEDIA_BUCKET"):
        Settings.from_env({**env, "CLASSTOP_MEDIA_BUCKET": "Not A Bucket"})
