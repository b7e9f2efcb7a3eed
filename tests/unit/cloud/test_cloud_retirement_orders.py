"""Retirement both ways and durable (docs/operations.md#an-agent): an agent retired at its site is cleaned from the
cloud by the site's report (``agents_retired``), only for that site's agents; a retirement ordered in the cloud waits
for an offline LMS (a site order, sent again after its full heartbeats) and its heartbeats do not bring the agent
back meanwhile."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib import container
from shared.messages import AgentRetire, decode
from shared.topics import SiteDown, agent_shadow_name, site_down, site_thing_name
from tests.unit.cloud.cloud_testkit import NS, Cloud, iot_client, online, running_cloud

DESIRED = json.dumps({"state": {"desired": {"volume": "30"}}}).encode()


@pytest.fixture
def cloud() -> Any:
    with running_cloud() as running:
        for site in ("s1", "s2"):
            iot_client().create_thing(thingName=site_thing_name(NS, site))
            running.heartbeat(site, [online(f"{site}-pc1"), online(f"{site}-pc2")])
        container.get().shadows.update(site_thing_name(NS, "s1"), agent_shadow_name("s1-pc1"), DESIRED)
        yield running


def _retired(cloud: Cloud, site_id: str, *agent_ids: str) -> dict[str, Any]:
    return _lists(cloud.invoke("agents_retired", {"type": "agents_retired", "v": 1, "site_id": site_id, "agents": [
        {"agent_id": a, "retired_at": cloud.clock.now, "by": "tech#1", "reason": "scrapped"} for a in agent_ids]}))


def _lists(outcome: dict[str, Any]) -> dict[str, Any]:
    """The handler's report as JSON has it (tuples are lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in outcome.items()}


def _retire_orders(cloud: Cloud, site_id: str) -> list[str]:
    topic = site_down(NS, site_id, SiteDown.RETIRE)
    return [decode(AgentRetire, m.payload).agent_id for m in cloud.publisher.messages if m.topic == topic]


def test_an_agent_retired_at_its_site_is_cleaned_from_the_cloud(cloud: Cloud) -> None:
    outcome = _retired(cloud, "s1", "s1-pc1", "s1-gone")  # s1-gone: already unknown to the cloud
    assert outcome["ok"] and outcome["cleaned"] == ["s1-pc1"] and outcome["refused"] == [], outcome
    assert cloud.get("/api/agents/s1-pc1").status_code == 404
    assert container.get().shadows.get(site_thing_name(NS, "s1"), agent_shadow_name("s1-pc1")) is None
    assert cloud.get("/api/agents/s1-pc2").status_code == 200
    assert _retired(cloud, "s1", "s1-pc1")["cleaned"] == []  # again (the outbox delivers at least once): nothing


def test_a_site_cannot_retire_another_sites_agent(cloud: Cloud) -> None:
    """The attacker: the LMS of s2 reports s1's agent retired."""
    outcome = _retired(cloud, "s2", "s1-pc1", "s2-pc1")
    assert outcome["refused"] == ["s1-pc1"] and outcome["cleaned"] == ["s2-pc1"], outcome
    assert cloud.get("/api/agents/s1-pc1").status_code == 200
    assert container.get().shadows.get(site_thing_name(NS, "s1"), agent_shadow_name("s1-pc1")) is not None
    bad = cloud.invoke("agents_retired", {"type": "agents_retired", "v": 1, "site_id": "s2", "agents": []})
    assert bad["ok"] is False  # an empty or malformed report is dropped


def test_a_cloud_retirement_waits_for_an_offline_lms(cloud: Cloud) -> None:
    cloud.publisher.fail_topics.add(site_down(NS, "s1", SiteDown.RETIRE))  # IoT Core refuses now
    r = cloud.post("/api/agents/s1-pc2/retire", {"reason": "moved"})
    assert r.status_code == 200 and r.json_body["data"]["lms_told"] is False, r.json_body
    assert cloud.get("/api/agents/s1-pc2").status_code == 404
    cloud.publisher.fail_topics.clear()
    # the LMS (back, or never having got it) still lists the agent: the cloud does not bring it back ...
    report = _lists(cloud.heartbeat("s1", [online("s1-pc1"), online("s1-pc2")]))
    assert report["agents_retiring"] == ["s1-pc2"] and report["orders_resent"] == 1
    assert _retire_orders(cloud, "s1") == ["s1-pc2"]
    assert cloud.get("/api/agents/s1-pc2").status_code == 404
    # ... sends the order again after its full heartbeats, at most once a minute, until the LMS reports it
    cloud.clock.advance(30)
    assert cloud.heartbeat("s1", [online("s1-pc1"), online("s1-pc2")])["orders_resent"] == 0
    cloud.clock.advance(31)
    assert cloud.heartbeat("s1", [online("s1-pc1"), online("s1-pc2")])["orders_resent"] == 1
    _retired(cloud, "s1", "s1-pc2")
    cloud.clock.advance(61)
    report = _lists(cloud.heartbeat("s1", [online("s1-pc1")]))
    assert report["orders_resent"] == 0 and report["agents_retiring"] == []
    # re-enrolled later at the site (a new enrolment token): it is an agent of the fleet again
    cloud.heartbeat("s1", [online("s1-pc1"), online("s1-pc2")], ts=cloud.clock.now + 1)
    assert cloud.get("/api/agents/s1-pc2").status_code == 200


def test_a_retired_sites_waiting_orders_are_dropped(cloud: Cloud) -> None:
    cloud.publisher.fail_topics.add(site_down(NS, "s2", SiteDown.RETIRE))
    assert cloud.post("/api/agents/s2-pc1/retire", {}).json_body["data"]["lms_told"] is False
    assert [o.order_key for o in container.get().site_orders.of_site("s2")] == ["retire#s2-pc1"]
    assert cloud.post("/api/lms/s2/retire", {}).status_code == 200
    assert container.get().site_orders.of_site("s2") == []
