"""Live view, snapshots and playback read by a real HTTP client THROUGH the real LMS from a real agent process
with a synthetic camera (no route from the client to the agent's video server is used)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.brokers import Broker
from tests.integration.cctv_lms.camera_site import AGENT, CAMERA, camera_agent, lms_process
from tests.integration.lms.lms_harness import LmsProcess, eventually

pytestmark = pytest.mark.integration


@pytest.fixture
def lms(tmp_path: Path, site_broker: Broker) -> Iterator[LmsProcess]:
    with lms_process(site_broker, tmp_path / "lms") as proc:
        yield proc


@pytest.fixture
def agent(site_broker: Broker, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    with camera_agent(site_broker, tmp_path / "agent") as proc:
        yield proc


def jpeg_frames(body: bytes) -> list[bytes]:
    """The JPEG parts of a ``multipart/x-mixed-replace`` body (complete ones only)."""
    frames = []
    for part in body.split(b"--classtopframe")[1:]:
        head, sep, rest = part.partition(b"\r\n\r\n")
        if not sep or b"Content-Length:" not in head:
            continue
        length = int(head.split(b"Content-Length:")[1].split(b"\r\n")[0])
        if len(rest) >= length:
            frames.append(rest[:length])
    return frames


def read_parts(client: httpx.Client, url: str, params: dict[str, Any], count: int) -> tuple[httpx.Response, bytes]:
    """Read a streamed MJPEG response until it holds ``count`` whole frames, then hang up."""
    body = b""
    with client.stream("GET", url, params=params) as r:
        if r.status_code != 200:
            r.read()
            return r, r.content
        for chunk in r.iter_raw():
            body += chunk
            if len(jpeg_frames(body)) >= count:
                break
    return r, body


def test_live_snapshot_and_playback_through_the_lms(lms: LmsProcess, agent: subprocess.Popen[bytes]) -> None:
    lms.wait_agent(AGENT, timeout=30)
    added = lms.http.post(f"/api/cctv/{AGENT}/cameras", json=CAMERA)
    assert added.status_code == 200 and added.json()["success"], added.text
    viewer = lms.http.post("/api/tokens", json={"name": "wall", "role": "viewer"}).json()["data"]["token"]
    live = f"/api/cctv/{AGENT}/cameras/door/live"
    anon = httpx.Client(base_url=lms.base_url, timeout=30.0)  # no Authorization header: ?token= like an <img>

    # not streaming yet: the agent's 409 comes through
    refused = anon.get(live, params={"token": viewer})
    assert refused.status_code == 409 and refused.json()["error_code"] == "conflict"
    assert anon.get(live).status_code == 401
    assert anon.get(live, params={"token": "ctl_wrong-token-000000000000"}).status_code == 401

    started = lms.http.post(f"/api/cctv/{AGENT}/control", json={"action": "start_streaming", "camera_id": "door"})
    assert started.json()["data"]["live_url"] == live
    response, body = read_parts(anon, live, {"token": viewer}, 3)
    assert response.status_code == 200, body[:300]
    assert response.headers["content-type"].startswith("multipart/x-mixed-replace")
    frames = jpeg_frames(body)
    assert len(frames) >= 3 and all(f.startswith(b"\xff\xd8") and f.endswith(b"\xff\xd9") for f in frames)
    # four viewers held open fill the agent's slots (503 for a fifth); once they hang up, the LMS closes its
    # upstream connections and the slots are free again (a leaked upstream would keep them taken for good)
    held = [anon.stream("GET", live, params={"token": viewer}) for _ in range(4)]
    opened = [h.__enter__() for h in held]
    assert [r.status_code for r in opened] == [200] * 4
    for r in opened:
        next(r.iter_raw())
    full = anon.get(live, params={"token": viewer})
    assert full.status_code == 503 and full.json()["error_code"] == "busy"
    for h in held:
        h.__exit__(None, None, None)
    for i in range(4):
        eventually(lambda: read_parts(anon, live, {"token": viewer}, 1)[0].status_code == 200, 10,
                   what=f"stream {i} served after the others hung up")

    snap = lms.http.get(f"/api/cctv/{AGENT}/cameras/door/snapshot")
    assert snap.status_code == 200 and snap.headers["content-type"] == "image/jpeg"
    assert snap.content.startswith(b"\xff\xd8")
    unknown = lms.http.get(f"/api/cctv/{AGENT}/cameras/nope/snapshot")
    assert unknown.status_code == 404 and unknown.json()["error_code"] == "not_found"
    assert lms.http.get(f"/api/cctv/{AGENT}/cameras/..%2Fx/snapshot").status_code in (404, 422)

    # record a few one-second segments, then play a finished one back from 0.5 s
    lms.http.post(f"/api/cctv/{AGENT}/control", json={"action": "start_recording", "camera_id": "door"})

    def finished() -> str | None:
        data = lms.command(AGENT, "cctv_get_recordings", {"camera_id": "door"}).json()["data"]
        done = [r["name"] for r in data["recordings"] if not r["active"]]
        return done[-1] if done else None

    name = eventually(finished, 30, what="a finished recording")
    play = f"/api/cctv/{AGENT}/recordings/{name}/play"
    response, body = read_parts(anon, play, {"token": viewer, "t": 0.5}, 2)
    assert response.status_code == 200, body[:300]
    positions = [float(p.split(b"X-Position:")[1].split(b"\r\n")[0]) for p in body.split(b"--classtopframe")[1:3]]
    assert positions[0] >= 0.4 and positions[1] > positions[0]
    bad = anon.get(f"/api/cctv/{AGENT}/recordings/door/..%2F..%2Fetc%2Fpasswd/play", params={"token": viewer})
    assert bad.status_code in (404, 422)
    too_far = anon.get(play, params={"token": viewer, "t": -1})
    assert too_far.status_code == 422

    anon.close()
