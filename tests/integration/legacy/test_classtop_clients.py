"""Unchanged ClassTop clients on the LMS's ``/ws/{uuid}`` (docs/classtop.md, the wire contract), each in its own
process: online with its settings, settings through the LMS API, camera commands, offline when killed, back on
reconnect; commands it cannot run refused at once; silence timed out; batches across both kinds."""

from __future__ import annotations

import json
import threading
import uuid as uuidlib
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.fixtures.brokers import Broker
from tests.integration.legacy.conftest import ClientFactory
from tests.integration.lms.lms_harness import LmsProcess, SimAgent, eventually

pytestmark = pytest.mark.integration


def _ws_url(lms: LmsProcess, uuid: str) -> str:
    return lms.base_url.replace("http://", "ws://") + f"/ws/{uuid}"


def _online(lms: LmsProcess, uuid: str) -> dict[str, Any]:
    info: dict[str, Any] = lms.wait_agent(uuid, "online", timeout=15.0)
    return info


def test_client_online_settings_camera_kill_and_reconnect(lms: LmsProcess, classtop_client: ClientFactory) -> None:
    uuid = str(uuidlib.uuid4())
    proc = classtop_client(lms.base_url, uuid, "--heartbeat-s", "0.5")
    info = eventually(lambda: (i := lms.client_info(uuid)) and i["settings"] and i, timeout=15.0, what="settings")
    assert info["kind"] == "legacy" and info["online"] is True
    assert info["settings"]["client_name"] == "Room 101" and info["settings"]["client_uuid"] == uuid

    # settings through the seeds' LMS paths (served by the client's own get_*/set_* commands)
    r = lms.http.get(f"/api/settings/{uuid}")
    assert r.status_code == 200 and r.json()["data"]["theme_mode"] == "light"
    r = lms.http.put(f"/api/settings/{uuid}/theme_mode", json={"value": "dark"})
    assert r.status_code == 200 and r.json()["success"] is True, r.text
    r = lms.http.post(f"/api/settings/{uuid}/batch", json={"settings": {"font_size": 18, "show_clock": True}})
    assert r.status_code == 200 and r.json()["success"] is True, r.text
    assert lms.http.get(f"/api/settings/{uuid}/theme_mode").json()["data"] == "dark"
    assert lms.http.get(f"/api/settings/{uuid}/show_clock").json()["data"] == "true"
    cached = lms.client_info(uuid)
    assert cached is not None and cached["settings"]["font_size"] == "18"  # the cache follows the writes

    # camera_* round trip, a cctv_* command mapped onto camera_*, and live preview frames
    r = lms.command(uuid, "camera_get_cameras")
    assert r.status_code == 200 and r.json()["data"]["cameras"][0]["name"] == "Integrated Camera"
    r = lms.command(uuid, "cctv_start_recording", {"camera_id": "0"})
    assert r.status_code == 200 and r.json()["data"]["camera_index"] == 0, r.text
    assert lms.command(uuid, "camera_get_status").json()["data"]["recording"] is True
    assert lms.command(uuid, "camera_start_preview", {"camera_index": 0, "fps": 20}).json()["success"] is True
    frame = eventually(lambda: lms.http.get(f"/api/legacy/{uuid}/camera/frame").json().get("data"), what="frame")
    assert frame["camera_index"] == 0 and frame["frame"]
    lms.command(uuid, "camera_stop_preview")

    # what a ClassTop client cannot run is refused at once, with a clear error
    r = lms.command(uuid, "exec", {"cmd": "whoami"})
    assert r.status_code == 422 and "not available on a ClassTop desktop client" in r.json()["error"]
    r = lms.command(uuid, "cctv_add_camera", {"camera_id": "c1", "source": "0"})
    assert r.status_code == 422 and r.json()["error_code"] in ("unknown_command", "invalid_params")

    # killed: offline at once (the connection closes); a new process brings it back with its settings
    proc.kill()
    proc.wait(10)
    off = lms.wait_agent(uuid, "offline", timeout=15.0)
    assert off["status_reason"] == "disconnected"
    assert lms.command(uuid, "get_all_settings").status_code == 409
    classtop_client(lms.base_url, uuid)
    back = _online(lms, uuid)
    assert back["kind"] == "legacy"
    assert lms.http.get(f"/api/settings/{uuid}/client_name").json()["data"] == "Room 101"


def test_silent_client_gets_its_command_timed_out(lms: LmsProcess, classtop_client: ClientFactory) -> None:
    uuid = str(uuidlib.uuid4())
    classtop_client(lms.base_url, uuid, "--silent")
    _online(lms, uuid)
    r = lms.command(uuid, "get_all_settings", timeout_s=1)
    assert r.status_code == 504 and r.json()["error_code"] == "timeout"


def test_replacement_and_bad_frames(lms: LmsProcess) -> None:
    uuid = str(uuidlib.uuid4())
    state = {"type": "state_update", "data": {"settings": {"client_name": "first"}}}
    with connect(_ws_url(lms, uuid)) as first:
        first.send(json.dumps(state))
        eventually(lambda: (lms.client_info(uuid) or {}).get("settings"), what="first online")
        with connect(_ws_url(lms, uuid), max_size=None) as second:
            with pytest.raises(ConnectionClosed) as closed:
                first.recv(timeout=10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4000
            # dropped without killing the connection: not JSON, not an object, unknown type, bad shape
            second.send("{this is not json")
            second.send("[1, 2, 3]")
            second.send(json.dumps({"type": "mystery"}))
            second.send(json.dumps({"type": "response", "request_id": "nobody-asked", "success": True}))
            second.send(json.dumps({"type": "state_update", "data": {"settings": {"client_name": "second"}}}))
            eventually(lambda: (lms.client_info(uuid) or {}).get("settings", {}).get("client_name") == "second",
                       what="settings after the junk")  # fmt: skip

            def answer() -> None:
                msg = json.loads(second.recv(timeout=10))
                assert msg["type"] == "command" and isinstance(msg["params"], dict)
                assert set(msg) == {"type", "request_id", "command", "params"}
                second.send(json.dumps({"type": "response", "request_id": msg["request_id"], "success": False,
                                        "error": f"Unknown command: {msg['command']}"}))  # fmt: skip

            t = threading.Thread(target=answer)
            t.start()
            r = lms.command(uuid, "camera_initialize")
            t.join(10)
            body = r.json()
            assert r.status_code == 200 and body["success"] is False
            assert body["error"] == "Unknown command: camera_initialize"
        off = lms.wait_agent(uuid, "offline", timeout=10.0)
        assert off["status_reason"] == "disconnected"
    # a frame over 1 MiB is refused where it is read: the connection closes with 1009 (the client reconnects)
    with connect(_ws_url(lms, uuid), max_size=None) as third:
        third.send(json.dumps({"type": "heartbeat", "pad": "x" * (1024 * 1024 + 10)}))
        with pytest.raises(ConnectionClosed) as closed:
            third.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    health = lms.http.get("/api/health")
    assert health.status_code == 200


def test_batch_reaches_legacy_clients_and_mqtt_agents(
    lms: LmsProcess, module_broker: Broker, classtop_client: ClientFactory
) -> None:
    uuids = [str(uuidlib.uuid4()) for _ in range(2)]
    for u in uuids:
        classtop_client(lms.base_url, u)
    agent = SimAgent(module_broker, "agent-1").start()
    try:
        for u in [*uuids, "agent-1"]:
            _online(lms, u)
        targets = [*uuids, "agent-1"]
        r = lms.http.post("/api/commands/batch", json={"command": "get_setting", "params": {"key": "theme_mode"},
                                                       "target": {"ids": targets}})  # fmt: skip
        assert r.status_code == 200, r.text
        results = r.json()["data"]["results"]
        assert {a: results[a]["data"] for a in targets} == {uuids[0]: "light", uuids[1]: "light", "agent-1": "dark"}
    finally:
        agent.stop()


def test_settings_write_waits_for_an_offline_client(lms: LmsProcess, classtop_client: ClientFactory) -> None:
    uuid = str(uuidlib.uuid4())
    proc = classtop_client(lms.base_url, uuid)
    _online(lms, uuid)
    proc.kill()
    proc.wait(10)
    lms.wait_agent(uuid, "offline", timeout=15.0)
    r = lms.http.put(f"/api/settings/{uuid}/theme_mode", json={"value": "sepia"})
    assert r.status_code == 202 and r.json()["status"] == "queued"
    classtop_client(lms.base_url, uuid)  # a fresh process (its settings start as "light"): the queue applies it
    _online(lms, uuid)
    eventually(lambda: lms.http.get(f"/api/settings/{uuid}/theme_mode").json().get("data") == "sepia",
               timeout=15.0, what="queued write applied")  # fmt: skip


def test_pending_command_ends_when_the_client_goes_away(lms: LmsProcess, classtop_client: ClientFactory) -> None:
    uuid = str(uuidlib.uuid4())
    proc = classtop_client(lms.base_url, uuid, "--silent")
    _online(lms, uuid)
    replies: list[Any] = []
    t = threading.Thread(target=lambda: replies.append(lms.command(uuid, "get_all_settings", timeout_s=60)))
    t.start()
    eventually(lambda: lms.health()["commands_pending"] >= 1, what="command pending")
    proc.kill()
    t.join(30)
    assert replies and replies[0].status_code == 409 and replies[0].json()["error_code"] == "agent_offline"
    assert "disconnected" in replies[0].json()["error"]
