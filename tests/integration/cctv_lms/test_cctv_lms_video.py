"""Live view, snapshots and playback read by a real HTTP client THROUGH the real LMS from a real agent process
with a synthetic camera (no route from the client to the agent's video server is used)."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.fixtures.agents import AGENT
from tests.fixtures.brokers import Broker
from tests.integration.cctv_lms.camera_site import CAMERA, camera_agent, lms_process
from tests.integration.lms.lms_harness import LmsProcess, eventually, signed_in

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


Held = list[tuple[httpx.Client, httpx.Response, Iterator[bytes]]]


def hold(base_url: str, path: str, ticket: dict[str, str], count: int) -> Held | None:
    """``count`` viewers at once, each on its own connection (as ``<img>`` tags are), each having read a first
    chunk; ``None`` (all closed again) unless every one got a 200. Keep the result referenced: httpx closes the
    connection when a response or its body iterator is garbage-collected."""
    clients = [httpx.Client(base_url=base_url, timeout=30.0) for _ in range(count)]
    opened = [(c, c.send(c.build_request("GET", path, params=ticket), stream=True)) for c in clients]
    held = [(c, r, r.iter_raw()) for c, r in opened]
    if all(r.status_code == 200 for _c, r, _i in held):
        for _c, _r, body in held:
            next(body)
        return held
    release(held)
    return None


def upstreams(pid: int, port: int) -> int:
    """Established connections to the agent's video server (as the agent process sees them)."""
    conns = psutil.Process(pid).net_connections(kind="tcp")
    return sum(1 for c in conns if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == port)


def release(held: Held) -> None:
    for c, r, _body in held:
        r.close()
        c.close()


def test_live_snapshot_and_playback_through_the_lms(lms: LmsProcess, agent: subprocess.Popen[bytes]) -> None:
    lms.wait_agent(AGENT, timeout=30)
    added = lms.http.post(f"/api/cctv/{AGENT}/cameras", json=CAMERA)
    assert added.status_code == 200 and added.json()["success"], added.text
    viewer = lms.http.post("/api/tokens", json={"name": "wall", "role": "viewer"}).json()["data"]["token"]
    live = f"/api/cctv/{AGENT}/cameras/door/live"
    anon = httpx.Client(base_url=lms.base_url, timeout=30.0)  # no Authorization header: ?ticket= like an <img>

    def ticket(path: str) -> dict[str, str]:
        """The query of a ticket for ``path``, minted with the viewer's token (in the header)."""
        minted = anon.post("/api/cctv/tickets", json={"path": path}, headers={"Authorization": f"Bearer {viewer}"})
        return {"ticket": minted.json()["data"]["ticket"]}

    # not streaming yet: the agent's 409 comes through
    refused = anon.get(live, params=ticket(live))
    assert refused.status_code == 409 and refused.json()["error_code"] == "conflict"
    assert anon.get(live).status_code == 401
    assert anon.get(live, params={"ticket": "v1.1.viewer.9999999999.forged"}).status_code == 401

    started = lms.http.post(f"/api/cctv/{AGENT}/control", json={"action": "start_streaming", "camera_id": "door"})
    assert started.json()["data"]["live_url"] == live
    response, body = read_parts(anon, live, ticket(live), 3)
    assert response.status_code == 200, body[:300]
    assert response.headers["content-type"].startswith("multipart/x-mixed-replace")
    frames = jpeg_frames(body)
    assert len(frames) >= 3 and all(f.startswith(b"\xff\xd8") and f.endswith(b"\xff\xd9") for f in frames)
    # viewers held open through the LMS are upstream connections at the agent's video server (4 at most: a
    # fifth gets 503 busy); when they hang up, the LMS closes those upstream connections, freeing the slots
    port = lms.command(AGENT, "cctv_get_config").json()["data"]["stream_server"]["port"]
    held = eventually(lambda: hold(lms.base_url, live, ticket(live), 4), 10, what="four viewers at once")
    eventually(lambda: upstreams(agent.pid, port) == 4, 10, what="four upstream connections")
    snapshot = f"/api/cctv/{AGENT}/cameras/door/snapshot"
    fifth = anon.get(snapshot, params=ticket(snapshot))  # not a viewer
    assert fifth.status_code == 200
    with anon.stream("GET", live, params=ticket(live)) as busy:
        assert busy.status_code == 503
        busy.read()
        assert busy.json()["error_code"] == "busy"
    release(held)
    eventually(lambda: upstreams(agent.pid, port) == 0, 10, what="the upstream connections closed")

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
    response, body = read_parts(anon, play, {**ticket(play), "t": 0.5}, 2)
    assert response.status_code == 200, body[:300]
    positions = [float(p.split(b"X-Position:")[1].split(b"\r\n")[0]) for p in body.split(b"--classtopframe")[1:3]]
    assert positions[0] >= 0.4 and positions[1] > positions[0]
    bad = lms.http.get(f"/api/cctv/{AGENT}/recordings/door/..%2F..%2Fetc%2Fpasswd/play")
    assert bad.status_code in (404, 422)
    too_far = anon.get(play, params={**ticket(play), "t": -1})
    assert too_far.status_code == 422
    odd = lms.http.get(f"/api/cctv/{AGENT}/recordings/door/notes.txt/play")
    assert odd.status_code == 422 and odd.json()["error_code"] == "invalid_params"
    stranger = anon.get("/api/cctv/agent-9/cameras/door/live", params=ticket("/api/cctv/agent-9/cameras/door/live"))
    assert stranger.status_code == 404 and stranger.json()["error_code"] == "unknown_agent"

    anon.close()


def test_watching_cameras_is_a_permission_of_its_own_and_every_look_is_audited(
    lms: LmsProcess, agent: subprocess.Popen[bytes]
) -> None:
    lms.wait_agent(AGENT, timeout=30)
    assert lms.http.post(f"/api/cctv/{AGENT}/cameras", json=CAMERA).status_code == 200
    started = lms.http.post(f"/api/cctv/{AGENT}/control", json={"action": "start_streaming", "camera_id": "door"})
    assert started.status_code == 200, started.text
    live = f"/api/cctv/{AGENT}/cameras/door/live"
    snapshot = f"/api/cctv/{AGENT}/cameras/door/snapshot"
    eventually(lambda: lms.http.get(snapshot).status_code == 200, 30, what="the camera streams")
    operator, csrf = signed_in(lms, "ops", "operator")  # an operator, but not allowed to watch
    guard, _ = signed_in(lms, "guard", "viewer", cameras=True)
    with contextlib.closing(operator), contextlib.closing(guard):
        for path in (live, snapshot):
            r = operator.get(path)
            assert r.status_code == 403 and "cameras permission" in r.json()["error"], (path, r.text)
        r = operator.post("/api/cctv/tickets", json={"path": live}, headers={"X-CSRF-Token": csrf})
        assert r.status_code == 403  # no ticket to hand to an <img> either
        assert operator.get(f"/api/cctv/{AGENT}/cameras").status_code == 200  # the camera list is not video

        # the guard's browser: its session cookie opens the console's own <img src> (no header, no ticket)
        r = guard.get(snapshot)
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
        response, body = read_parts(guard, live, {}, 2)
        assert response.status_code == 200 and len(jpeg_frames(body)) >= 2

    def looks() -> list[dict[str, Any]]:
        entries = lms.http.get("/api/audit", params={"limit": 100}).json()["data"]["entries"]
        return [e for e in entries if e["action"].startswith("cctv:")]

    done = eventually(lambda: [e for e in looks() if e["action"] == "cctv:live" and e["result"] != "watching"], 15,
                      what="the live view's end in the audit log")  # fmt: skip
    assert done[0]["actor"] == "user:guard" and done[0]["target"] == f"{AGENT}/door"
    assert done[0]["result"].startswith("ended after ")
    snaps = [e for e in looks() if e["action"] == "cctv:snapshot"]
    assert {e["actor"] for e in snaps} >= {"user:guard"} and all(e["target"] == f"{AGENT}/door" for e in snaps)
    assert not [e for e in looks() if e["actor"] == "user:ops"]  # refused looks are not views
