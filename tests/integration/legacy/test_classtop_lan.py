"""The school LAN against the LMS's ClassTop endpoints (issue 11, items 4 and 10): any host reaches ``/ws/{uuid}``
and the five sync endpoints without credentials, by design. Each test performs the attack as such a host would
(raw WebSocket and HTTP clients on the real LMS process) and checks what the LMS lets it do."""

from __future__ import annotations

import json
import threading
import time
import uuid as uuidlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect
from websockets.sync.connection import Connection

from shared import topics
from shared.messages import SiteHeartbeat, decode
from shared.topics import SiteUp
from tests.fixtures.brokers import Broker, MqttProbe
from tests.integration.legacy.conftest import start_lms
from tests.integration.lms.lms_harness import NS, SITE, LmsProcess, SimAgent, eventually

pytestmark = pytest.mark.integration

HEARTBEAT = topics.site_up(NS, SITE, SiteUp.HEARTBEAT)
EMPTY_SYNC: dict[str, Any] = {"courses": [], "schedule_entries": []}
COURSE = {"id": 1, "name": "Maths", "teacher": "Ms. Wang", "color": "#6750A4", "note": None}


def ws_url(lms: LmsProcess, uuid: str) -> str:
    return lms.base_url.replace("http://", "ws://") + f"/ws/{uuid}"


def state_update(name: str) -> str:
    return json.dumps({"type": "state_update", "data": {"settings": {"client_name": name, "theme_mode": "light"}}})


def refused(lms: LmsProcess, uuid: str) -> int | None:
    """Open ``/ws/{uuid}`` as a LAN host; the HTTP status of a refused handshake, ``None`` if it was accepted (then
    the socket says it is that client and leaves again)."""
    try:
        ws = connect(ws_url(lms, uuid), open_timeout=10)
    except InvalidStatus as exc:
        return exc.response.status_code
    with ws:
        ws.send(state_update("attacker"))
        ws.send(json.dumps({"type": "heartbeat", "timestamp": 1.0}))
    return None


def answer_once(ws: Connection, replies: list[dict[str, Any]]) -> threading.Thread:
    """Answer the next command on ``ws`` like a ClassTop client (``get_setting`` -> its value)."""

    def run() -> None:
        msg = json.loads(ws.recv(timeout=15))
        replies.append(msg)
        ws.send(json.dumps({"type": "response", "request_id": msg["request_id"], "success": True, "data": "light"}))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def heartbeat_ids(probe: MqttProbe) -> list[set[str]]:
    """The agent ids of every full site heartbeat the cloud received so far, in order."""
    beats = [decode(SiteHeartbeat, m.payload) for m in list(probe.messages) if m.topic == HEARTBEAT]
    return [{a.agent_id for a in b.agents} for b in beats if b.full]


@pytest.fixture
def lms_of(module_broker: Broker, tmp_path: Path) -> Iterator[Any]:
    made: list[LmsProcess] = []

    def make(**kwargs: Any) -> LmsProcess:
        workdir = tmp_path / f"lms-{len(made)}"
        workdir.mkdir()
        lms = start_lms(workdir, module_broker, **kwargs)
        made.append(lms)
        return lms

    yield make
    for lms in made:
        lms.close()


# ---------------------------------------------------------------- item 4


def test_lan_host_cannot_turn_agent_into_legacy(lms_of: Any, module_broker: Broker) -> None:
    """``/ws/<an enrolled agent's id>`` is refused, even under the ``open`` policy; the agent stays an agent and
    its commands still go to it (also after the attacker has left)."""
    lms = lms_of(classtop={"client_policy": "open"})
    agent = SimAgent(module_broker, "agent-1").start()
    try:
        assert lms.wait_agent("agent-1")["kind"] == "agent"
        status = refused(lms, "agent-1")
        info = lms.client_info("agent-1")
        assert status == 403, f"the LMS accepted /ws/agent-1 from a LAN host (the agent is now {info!r})"
        assert info is not None and info["kind"] == "agent" and info["online"] is True
        r = lms.command("agent-1", "ping")
        assert r.status_code == 200 and r.json()["data"] == {"pong": True, "agent": "agent-1"}, r.text
        assert agent.commands[-1].command == "ping"
        # nor through the sync endpoints: no timetable can be written or read under an agent's id
        with httpx.Client(base_url=lms.base_url, timeout=10.0) as anon:
            r = anon.post("/api/sync", json={"client_uuid": "agent-1", **EMPTY_SYNC})
            assert r.status_code == 403 and r.json()["error_code"] == "forbidden", r.text
            assert anon.post("/api/clients/register", json={"uuid": "agent-1", "name": ""}).status_code == 403
            assert anon.get("/api/clients/agent-1/courses").status_code == 403
    finally:
        agent.stop()


# ---------------------------------------------------------------- item 10


def test_classtop_endpoints_are_bounded(lms_of: Any, module_broker: Broker, cloud_broker: Broker) -> None:
    """A fresh LMS with its defaults (policy ``approval``): a new ClassTop client is kept pending — not in the cloud
    heartbeat, not commandable, its sync refused — until an admin approves it through the audited route; frames
    over 1 MiB close the connection; one address gets a bounded number of connections and requests; the latest
    camera frame goes with the connection; an agent's timetable cannot be overwritten."""
    cloud = cloud_broker.client()
    cloud.subscribe(HEARTBEAT)
    lms = lms_of(cloud_port=cloud_broker.port, settings={"site_heartbeat_s": 1})
    agent = SimAgent(module_broker, "agent-1").start()
    anon = httpx.Client(base_url=lms.base_url, timeout=10.0)
    new = str(uuidlib.uuid4())
    try:
        lms.wait_agent("agent-1")
        with connect(ws_url(lms, new), open_timeout=10) as ws:
            ws.send(state_update("Room 7"))

            def known() -> dict[str, Any] | None:
                info = lms.client_info(new)
                if info is not None:
                    return {"agent": info}
                r = lms.http.get("/api/classtop/clients", params={"status": "pending"})
                listed = r.json()["data"]["clients"] if r.status_code == 200 else []
                match = [c for c in listed if c["uuid"] == new and c["name"] == "Room 7"]
                return {"pending": match[0]} if match else None

            seen = eventually(known, what="the new client known to the LMS")
            # pending: not an agent of the site, not commandable, nothing of it stored, not in the heartbeat
            assert "agent" not in seen, f"a new ClassTop client became an agent of the site at once: {seen}"
            entry = seen["pending"]
            assert entry["connected"] is True and entry["ip_address"] == "127.0.0.1"
            r = lms.command(new, "get_setting", {"key": "theme_mode"})
            assert r.status_code == 404 and r.json()["error_code"] == "unknown_agent", r.text
            r = anon.post("/api/sync", json={"client_uuid": new, "courses": [COURSE], "schedule_entries": []})
            assert r.status_code == 403 and "approv" in r.json()["error"], r.text
            seen = len(heartbeat_ids(cloud))
            eventually(lambda: len(heartbeat_ids(cloud)) >= seen + 2, what="two more full heartbeats")
            assert all(new not in ids for ids in heartbeat_ids(cloud))
            assert all("agent-1" in ids for ids in heartbeat_ids(cloud)[seen:])

            # only an admin approves, and the approval is audited; the open connection is promoted at once
            operator = lms.http.post("/api/tokens", json={"name": "desk", "role": "operator"}).json()["data"]
            r = anon.post(f"/api/classtop/clients/{new}/approve",
                          headers={"Authorization": f"Bearer {operator['token']}"})  # fmt: skip
            assert r.status_code == 403, r.text
            r = lms.http.post(f"/api/classtop/clients/{new}/approve")
            assert r.status_code == 200 and r.json()["data"]["approval"] == "approved", r.text
            audit = lms.http.get("/api/audit", params={"action": "classtop:approve"}).json()["data"]["entries"]
            assert [(e["target"], e["result"]) for e in audit] == [(new, "ok")]
            info = lms.wait_agent(new)
            assert info["kind"] == "legacy" and info["settings"]["client_name"] == "Room 7"
            eventually(lambda: new in heartbeat_ids(cloud)[-1], what="the approved client in a full heartbeat")
            replies: list[dict[str, Any]] = []
            answering = answer_once(ws, replies)
            r = lms.command(new, "get_setting", {"key": "theme_mode"})
            answering.join(15)
            assert r.status_code == 200 and r.json()["data"] == "light", r.text
            r = anon.post("/api/sync", json={"client_uuid": new, "courses": [COURSE], "schedule_entries": []})
            assert r.status_code == 200 and r.json()["data"] == {"synced_courses": 1, "synced_entries": 0}, r.text

            # the latest camera frame is kept while the client is connected ...
            ws.send(json.dumps({"type": "camera_frame", "camera_index": 0, "frame": "AAAA"}))
            eventually(lambda: lms.http.get(f"/api/legacy/{new}/camera/frame").status_code == 200, what="frame")
            # ... and a frame over 1 MiB never reaches the LMS's reader: the protocol layer closes the connection
            ws.send(json.dumps({"type": "heartbeat", "pad": "x" * (2 * 1024 * 1024)}))
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        lms.wait_agent(new, "offline")
        assert lms.http.get(f"/api/legacy/{new}/camera/frame").status_code == 404  # forgotten with the connection

        # an agent's timetable cannot be written by a LAN host
        r = anon.post("/api/sync", json={"client_uuid": "agent-1", "courses": [COURSE], "schedule_entries": []})
        assert r.status_code == 403, r.text

        # one address: a bounded number of connections at once, and of requests per minute
        held = [connect(ws_url(lms, str(uuidlib.uuid4())), open_timeout=10) for _ in range(16)]
        try:
            assert refused(lms, str(uuidlib.uuid4())) == 429
        finally:
            for ws in held:
                ws.close()
        # 120 a minute (the default), all usable at once: the bucket refills 2 a second, so a slow machine is served
        # a few more, bounded by the time the requests took (a few went to /api/sync above)
        began = time.monotonic()
        codes: list[int] = []
        while 429 not in codes and len(codes) < 1000:
            codes.append(anon.get(f"/api/clients/{new}/courses").status_code)
        took, served = time.monotonic() - began, codes.count(200)
        assert codes[-1] == 429 and served == len(codes) - 1, codes
        assert 110 <= served <= 120 + 2 * took + 1, (served, took)
        r = anon.get(f"/api/clients/{new}/schedule")
        assert r.status_code == 429 and r.json()["error_code"] == "busy" and int(r.headers["retry-after"]) >= 1
        assert lms.http.get("/api/health").status_code == 200  # the LMS itself keeps serving
    finally:
        anon.close()
        agent.stop()
        cloud.close()
