"""Snapshots: inline, or PUT to an upload URL served by a real local HTTP server (a presigned-URL stand-in)."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from edge.agent.camera.errors import CameraError
from infra.local.ports import free_port
from shared.errors import ErrorCode
from tests.unit.camera.conftest import Cameras, decoded_jpeg, wait_until


class Bucket:
    """Accepts ``PUT /ok/<key>``; answers 403 to anything else (like an expired presigned URL)."""

    def __init__(self) -> None:
        self.objects: dict[str, tuple[str, bytes]] = {}
        bucket = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: object) -> None:
                return None

            def do_PUT(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if not self.path.startswith("/ok/"):
                    self.send_response(403)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                bucket.objects[self.path] = (self.headers["Content-Type"], body)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def bucket() -> Iterator[Bucket]:
    b = Bucket()
    yield b
    b.httpd.shutdown()
    b.httpd.server_close()


def test_snapshot_inline_and_uploaded(cameras: Cameras, bucket: Bucket) -> None:
    cameras.add("c1", "synthetic:moving", width=160, height=120)
    wait_until(lambda: cameras.state("c1")["frames"], "a frame")
    inline = cameras.call("cctv_snapshot", {"camera_id": "c1"})
    assert inline["uploaded"] is False and inline["size"] == len(base64.b64decode(inline["jpeg_base64"]))
    image = decoded_jpeg(base64.b64decode(inline["jpeg_base64"]))
    assert image.shape == (120, 160, 3)

    sent = cameras.call("cctv_snapshot", {"camera_id": "c1", "upload_url": f"{bucket.url}/ok/c1.jpg?X-Sig=abc"})
    assert (sent["uploaded"], sent["status"]) == (True, 200)
    content_type, body = bucket.objects["/ok/c1.jpg?X-Sig=abc"]
    assert content_type == "image/jpeg" and len(body) == sent["size"]
    assert decoded_jpeg(body).shape == (120, 160, 3)


def test_snapshot_upload_failures_are_clear(cameras: Cameras, bucket: Bucket) -> None:
    cameras.add("c1", "synthetic:moving", width=160, height=120)
    wait_until(lambda: cameras.state("c1")["frames"], "a frame")
    with pytest.raises(CameraError) as refused:
        cameras.call("cctv_snapshot", {"camera_id": "c1", "upload_url": f"{bucket.url}/expired"})
    assert (refused.value.code, refused.value.message) == (
        ErrorCode.INVALID_PARAMS, "snapshot upload refused: HTTP 403 Forbidden")
    with pytest.raises(CameraError) as down:
        cameras.call("cctv_snapshot", {"camera_id": "c1", "upload_url": f"http://127.0.0.1:{free_port()}/x"})
    assert down.value.code is ErrorCode.INTERNAL and down.value.message.startswith("snapshot upload failed:")
    with pytest.raises(CameraError) as unknown:
        cameras.call("cctv_snapshot", {"camera_id": "nope"})
    assert unknown.value.message == "unknown camera 'nope' (configured: c1)"
