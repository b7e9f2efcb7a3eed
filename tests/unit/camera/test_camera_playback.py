"""Playback of a recording as MJPEG over HTTP, with seeking, read by a real HTTP client."""

from __future__ import annotations

import http.client

import numpy as np

from edge.agent.camera.recorder import SegmentRecorder
from tests.unit.camera.conftest import Cameras, decoded_jpeg


def parts(body: bytes) -> list[tuple[dict[str, str], bytes]]:
    """Split a finished multipart/x-mixed-replace body into (headers, payload)."""
    out = []
    for chunk in body.split(b"--classtopframe\r\n")[1:]:
        head, _, rest = chunk.partition(b"\r\n\r\n")
        headers = dict(line.decode().split(": ", 1) for line in head.split(b"\r\n"))
        out.append((headers, rest[: int(headers["Content-Length"])]))
    return out


def get(cameras: Cameras, path: str) -> tuple[int, bytes]:
    host, port = cameras.manager.server.address  # type: ignore[union-attr]
    conn = http.client.HTTPConnection(host, port, timeout=20)
    token = cameras.manager.server.token  # type: ignore[union-attr]
    conn.request("GET", path + ("&" if "?" in path else "?") + f"token={token}")
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, body


def test_playback_seeks_and_serves_every_following_frame(cameras: Cameras) -> None:
    rec = SegmentRecorder(cameras.manager.recordings_dir / "c1", "c1", codec="mp4v", fps=10, segment_s=60)
    for i in range(30):
        rec.write(np.full((120, 160, 3), i * 8, np.uint8), now=i / 10)
    path = rec.close()
    assert path is not None
    status, body = get(cameras, f"/recordings/c1/{path.name}?t=1.5&speed=16")
    assert status == 200 and body.endswith(b"--classtopframe--\r\n")
    frames = parts(body)
    assert len(frames) == 15  # frames 15..29
    positions = [float(h["X-Position"]) for h, _ in frames]
    assert abs(positions[0] - 1.5) < 0.01 and abs(positions[-1] - 2.9) < 0.01
    first = decoded_jpeg(frames[0][1])
    assert first.shape == (120, 160, 3) and abs(float(first.mean()) - 15 * 8) < 6  # really frame 15

    status, body = get(cameras, f"/recordings/c1/{path.name}?speed=16")
    assert status == 200 and len(parts(body)) == 30  # no t: from the start


def test_playback_refuses_bad_queries_and_names(cameras: Cameras) -> None:
    rec = SegmentRecorder(cameras.manager.recordings_dir / "c1", "c1", codec="mp4v", fps=10, segment_s=60)
    rec.write(np.zeros((120, 160, 3), np.uint8), now=0)
    path = rec.close()
    assert path is not None
    assert get(cameras, f"/recordings/c1/{path.name}?t=soon")[0] == 400
    assert get(cameras, f"/recordings/c1/{path.name}?speed=100")[0] == 400
    assert get(cameras, "/recordings/c1/missing.mp4") == (404, b"no recording 'c1/missing.mp4'\n")
    for sneaky in ["/recordings/../../etc/passwd", "/recordings/c1/..%2F..%2Fsettings.json", "/recordings/c1/../x.mp4",
                   "/recordings/c1/.hidden.mp4", "/recordings/camera/settings.json"]:
        assert get(cameras, sneaky)[0] == 404, sneaky
