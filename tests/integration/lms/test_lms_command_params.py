"""Command parameters only the cloud may set (issue 11, low item): ``cctv_snapshot``'s ``upload_url`` makes the
agent PUT a JPEG to that URL — from inside the school LAN (SSRF). The cloud sends presigned URLs of the tenant's
bucket; an on-site operator has no business choosing the destination, through any of the LMS's command paths."""

from __future__ import annotations

import pytest

from shared import topics
from shared.messages import SiteCommand, encode
from tests.fixtures.brokers import Broker
from tests.integration.lms.lms_harness import NS, SITE, AgentFactory, LmsFactory, eventually

pytestmark = pytest.mark.integration

INNER = "http://169.254.169.254/latest/meta-data/"  # somewhere only the agent's LAN reaches
SNAPSHOT = {"command": "cctv_snapshot", "params": {"camera_id": "door", "upload_url": INNER}}
#: logs on request: the agent would POST its logs to any form it is given (docs/logs.md)
LOGS = {"command": "get_logs", "params": {"since": 0, "upload": {"url": INNER, "fields": {"key": "x"}}}}


def test_on_site_commands_cannot_set_upload_url(
    lms_factory: LmsFactory, agents: AgentFactory, cloud_broker: Broker
) -> None:
    lms = lms_factory(cloud_broker.port).start()
    agent = agents("agent-1").start()
    lms.wait_agent("agent-1")
    operator = lms.http.post("/api/tokens", json={"name": "desk", "role": "operator"}).json()["data"]["token"]
    as_operator = {"Authorization": f"Bearer {operator}"}

    for body, param in ((SNAPSHOT, "upload_url"), (LOGS, "upload")):
        attempts = {
            "one agent (fast lane)": lms.http.post("/api/clients/agent-1/command", json=body, headers=as_operator),
            "one agent, queued if offline": lms.http.post(
                "/api/clients/agent-1/command", json={**body, "queue_if_offline": True}
            ),
            "batch": lms.http.post("/api/commands/batch", json={**body, "target": {"ids": ["agent-1"]}}),
        }
        for path, r in attempts.items():
            assert r.status_code == 422, f"{path}: {r.status_code} {r.text}"
            assert r.json()["error_code"] == "bad_payload" and param in r.json()["error"], r.text
    assert [c.command for c in agent.commands] == []

    # the same snapshot without a destination is an ordinary on-site command (the JPEG comes back inline)
    r = lms.http.post("/api/clients/agent-1/command", json={"command": "cctv_snapshot", "params": {"camera_id": "d"}})
    assert r.status_code == 200, r.text

    # from the cloud (the tenant's presigned URL), upload_url still reaches the agent
    cloud = cloud_broker.client()
    presigned = "https://classtop-demo-media.s3.amazonaws.com/snapshots/x.jpg?X-Amz-Signature=abc"
    command = SiteCommand(request_id="cloud-1", command="cctv_snapshot", targets=["agent-1"],
                          params={"camera_id": "door", "upload_url": presigned})  # fmt: skip
    cloud.publish(topics.site_down(NS, SITE), encode(command))
    got = eventually(lambda: [c for c in agent.commands if c.params.get("upload_url")], what="the cloud's command")
    assert got[0].params["upload_url"] == presigned
    cloud.close()
