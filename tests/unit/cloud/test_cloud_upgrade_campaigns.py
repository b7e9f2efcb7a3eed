"""Agent upgrade campaigns from the cloud (docs/upgrades.md#campaigns-from-the-cloud) on moto: the package published
to the media bucket, the orders to each site (kept until it reports, sent again after its full heartbeats, a fresh
package URL each time), progress from the sites' reports, cancel; who may, and what a site may report."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from chalicelib import container
from shared.messages import UpgradeOrder, decode
from shared.topics import SiteDown, site_down
from tests.unit.cloud.cloud_testkit import NS, SETTINGS, Cloud, online, running_cloud

BUCKET = "classtop-test-media"
PACKAGE = {"version": "1.1.0", "sha256": "ab" * 32, "signature": "A" * 86 + "=="}


@pytest.fixture
def cloud() -> Any:
    with running_cloud(media_bucket=BUCKET) as running:
        boto3.client("s3", region_name=SETTINGS.region).create_bucket(Bucket=BUCKET)
        for site in ("s1", "s2"):
            running.heartbeat(site, [online(f"{site}-pc1"), online(f"{site}-pc2")])
        running.tokens["s1-operator"] = container.get().tokens.create("operator", "s1 op", site_ids=["s1"]).secret
        running.tokens["s2-viewer"] = container.get().tokens.create("viewer", "s2 viewer", site_ids=["s2"]).secret
        yield running


def _publish(cloud: Cloud, version: str = "1.1.0", body: bytes = b"package bytes") -> None:
    r = cloud.post("/api/upgrades/packages", {"version": version})
    assert r.status_code == 201, r.json_body
    form = r.json_body["data"]["upload"]
    assert form["fields"]["key"] == f"agent-packages/{version}.tar.gz"
    boto3.client("s3", region_name=SETTINGS.region).put_object(Bucket=BUCKET, Key=form["fields"]["key"], Body=body)


def _orders(cloud: Cloud, site_id: str) -> list[UpgradeOrder]:
    topic = site_down(NS, site_id, SiteDown.UPGRADE)
    return [decode(UpgradeOrder, m.payload) for m in cloud.publisher.messages if m.topic == topic]


def _report(cloud: Cloud, site_id: str, campaign_id: str, state: str, agents: list[dict[str, Any]],
            at: float | None = None) -> dict[str, Any]:  # fmt: skip
    at = cloud.clock.now if at is None else at
    outcome: dict[str, Any] = cloud.invoke("upgrade_reports", {
        "type": "upgrade_campaign_report", "v": 1, "campaign_id": campaign_id, "state": state, "lms_campaign_id": 7,
        "version": "1.1.0", "agent_count": len(agents), "timestamp": at, "site_id": site_id,
        "agents": [{"wave": 0, "updated_at": at, **a} for a in agents]})  # fmt: skip
    return outcome


def test_a_campaign_orders_each_site_and_shows_their_progress(cloud: Cloud) -> None:
    _publish(cloud)
    r = cloud.post("/api/upgrades/campaigns", {**PACKAGE, "site_ids": ["s1", "s2"], "canary_percent": 50,
                                               "wave_size": 1})  # fmt: skip
    assert r.status_code == 201, r.json_body
    campaign = r.json_body["data"]
    cid = campaign["campaign_id"]
    assert campaign["state"] == "running" and [s["state"] for s in campaign["sites"]] == ["ordered", "ordered"]
    (order,) = _orders(cloud, "s1")
    assert (order.action, order.campaign_id, order.version, order.sha256, order.signature, order.canary_percent,
            order.wave_size, order.package_size) == ("start", cid, "1.1.0", "ab" * 32, "A" * 86 + "==", 50, 1, 13)
    assert order.package_url and BUCKET in order.package_url and order.agent_ids is None

    # s1 reports progress, then success; s2 rolls back
    assert _report(cloud, "s1", cid, "running", [{"agent_id": "s1-pc1", "state": "sent", "from_version": "1.0.0"}])[
        "site_written"]
    cloud.clock.advance(1)
    _report(cloud, "s1", cid, "succeeded", [
        {"agent_id": "s1-pc1", "state": "upgraded", "from_version": "1.0.0", "version": "1.1.0"},
        {"agent_id": "s1-pc2", "state": "upgraded", "wave": 1, "from_version": "1.0.0", "version": "1.1.0"}])
    view = cloud.get(f"/api/upgrades/campaigns/{cid}").json_body["data"]
    assert view["state"] == "running"  # s2 has not finished
    _report(cloud, "s2", cid, "failed", [
        {"agent_id": "s2-pc1", "state": "rolled_back", "from_version": "1.0.0", "version": "1.0.0",
         "detail": "not online on 1.1.0 within 8 s: rolled back to 1.0.0"},
        {"agent_id": "s2-pc2", "state": "cancelled", "wave": 1, "from_version": "1.0.0"}])
    view = cloud.get(f"/api/upgrades/campaigns/{cid}").json_body["data"]
    assert view["state"] == "failed"
    assert {s["site_id"]: s["state"] for s in view["sites"]} == {"s1": "succeeded", "s2": "failed"}
    assert {(a["agent_id"], a["state"], a["version"]) for a in view["agents"]} == {
        ("s1-pc1", "upgraded", "1.1.0"), ("s1-pc2", "upgraded", "1.1.0"), ("s2-pc1", "rolled_back", "1.0.0"),
        ("s2-pc2", "cancelled", None)}
    assert view["agent_states"] == {"upgraded": 2, "rolled_back": 1, "cancelled": 1}
    # an older report arriving late changes nothing
    _report(cloud, "s1", cid, "running", [{"agent_id": "s1-pc1", "state": "sent"}], at=cloud.clock.now - 5)
    assert cloud.get(f"/api/upgrades/campaigns/{cid}").json_body["data"]["sites"][0]["state"] == "succeeded"
    listed = cloud.get("/api/upgrades/campaigns").json_body["data"]["campaigns"]
    assert [(c["campaign_id"], c["state"]) for c in listed] == [(cid, "failed")]
    # the sites reported: their orders are done, a later full heartbeat sends nothing again
    cloud.publisher.messages.clear()
    cloud.clock.advance(600)
    cloud.heartbeat("s1", [online("s1-pc1"), online("s1-pc2")])
    assert _orders(cloud, "s1") == []


def test_an_order_waits_for_an_offline_site_and_goes_with_a_fresh_url(cloud: Cloud) -> None:
    _publish(cloud)
    cid = cloud.post("/api/upgrades/campaigns", {**PACKAGE, "site_ids": ["s1"], "agent_ids": ["s1-pc2"]}).json_body[
        "data"]["campaign_id"]
    (first,) = _orders(cloud, "s1")
    assert first.agent_ids == ["s1-pc2"]
    # the LMS was offline: nothing reported; its heartbeats after reconnecting bring the order again
    cloud.heartbeat("s1", [online("s1-pc1"), online("s1-pc2")])
    assert len(_orders(cloud, "s1")) == 1  # not within a minute of the last send
    cloud.clock.advance(61)
    report = cloud.heartbeat("s1", [online("s1-pc1"), online("s1-pc2")])
    assert report["orders_resent"] == 1
    again = _orders(cloud, "s1")[-1]
    assert again.campaign_id == cid and again.timestamp > first.timestamp and again.package_url
    cloud.clock.advance(61)
    assert cloud.heartbeat("s1", [online("s1-pc1")], full=False)["orders_resent"] == 0  # only full heartbeats
    _report(cloud, "s1", cid, "running", [{"agent_id": "s1-pc2", "state": "sent"}])
    cloud.clock.advance(61)
    assert cloud.heartbeat("s1", [online("s1-pc1"), online("s1-pc2")])["orders_resent"] == 0


def test_cancel_orders_the_sites_not_finished(cloud: Cloud) -> None:
    _publish(cloud)
    cid = cloud.post("/api/upgrades/campaigns", {**PACKAGE, "site_ids": ["s1", "s2"]}).json_body["data"][
        "campaign_id"]
    _report(cloud, "s2", cid, "succeeded", [{"agent_id": "s2-pc1", "state": "upgraded"}])
    r = cloud.post(f"/api/upgrades/campaigns/{cid}/cancel", {})
    assert r.status_code == 200 and r.json_body["data"]["state"] == "cancelling", r.json_body
    assert [o.action for o in _orders(cloud, "s1")] == ["start", "cancel"]
    assert [o.action for o in _orders(cloud, "s2")] == ["start"]  # finished: nothing to cancel
    # a running report made before the cancel arrived does not end the cancel order; the final one does
    _report(cloud, "s1", cid, "running", [{"agent_id": "s1-pc1", "state": "sent"}])
    cloud.clock.advance(61)
    assert cloud.heartbeat("s1", [online("s1-pc1"), online("s1-pc2")])["orders_resent"] == 1
    assert _orders(cloud, "s1")[-1].action == "cancel"
    _report(cloud, "s1", cid, "cancelled", [{"agent_id": "s1-pc2", "state": "cancelled"}])
    assert cloud.get(f"/api/upgrades/campaigns/{cid}").json_body["data"]["state"] == "cancelled"


def test_who_may_and_bad_requests_change_nothing(cloud: Cloud) -> None:
    body = {**PACKAGE, "site_ids": ["s1"]}
    r = cloud.post("/api/upgrades/campaigns", body)
    assert r.status_code == 404 and "no package 1.1.0" in r.json_body["error"]["message"]  # not published
    _publish(cloud)
    assert cloud.post("/api/upgrades/packages", {"version": "1.1.0"}).status_code == 409  # immutable
    assert cloud.post("/api/upgrades/packages", {"version": "1.2.0"}, role="operator").status_code == 403
    assert cloud.post("/api/upgrades/packages", {"version": "../x"}).status_code == 400
    assert cloud.post("/api/upgrades/campaigns", body, role="viewer").status_code == 403
    # an operator of s1 only: its own site yes, another site (or both) no
    assert cloud.post("/api/upgrades/campaigns", {**body, "site_ids": ["s2"]}, role="s1-operator").status_code == 403
    r = cloud.post("/api/upgrades/campaigns", body, role="s1-operator")
    assert r.status_code == 201, r.json_body
    cid = r.json_body["data"]["campaign_id"]
    assert cloud.get(f"/api/upgrades/campaigns/{cid}", role="s2-viewer").status_code == 404
    assert cloud.get("/api/upgrades/campaigns", role="s2-viewer").json_body["data"]["campaigns"] == []
    for bad in ({**body, "sha256": "xyz"}, {**body, "site_ids": []}, {**body, "site_ids": ["s1"], "extra": 1},
                {**body, "agent_ids": ["s2-pc1"]}, {**body, "agent_ids": ["nobody"]}, {**body, "wave_size": 0},
                {**body, "site_ids": ["unknown"]}):
        assert cloud.post("/api/upgrades/campaigns", bad).status_code in (400, 404), bad
    assert len(cloud.get("/api/upgrades/campaigns").json_body["data"]["campaigns"]) == 1
    assert cloud.post("/api/upgrades/campaigns/upg-nope/cancel", {}).status_code == 404


def test_a_site_cannot_report_on_a_campaign_that_does_not_name_it(cloud: Cloud) -> None:
    """The attacker: an LMS (s2) writing progress into s1's campaign, or an unknown one."""
    _publish(cloud)
    cid = cloud.post("/api/upgrades/campaigns", {**PACKAGE, "site_ids": ["s1"]}).json_body["data"]["campaign_id"]
    outcome = _report(cloud, "s2", cid, "succeeded", [{"agent_id": "s1-pc1", "state": "upgraded"}])
    assert outcome["ok"] and outcome["refused"] is True
    assert _report(cloud, "s2", "upg-unknown", "succeeded", [])["refused"] is True
    view = cloud.get(f"/api/upgrades/campaigns/{cid}").json_body["data"]
    assert view["agents"] == [] and [(s["site_id"], s["state"]) for s in view["sites"]] == [("s1", "ordered")]
    # a malformed report is dropped
    bad = cloud.invoke("upgrade_reports", {"type": "upgrade_campaign_report", "v": 1, "campaign_id": cid,
                                           "state": "exploded", "timestamp": 1, "site_id": "s1"})  # fmt: skip
    assert bad["ok"] is False


def test_a_site_is_shown_finished_only_with_the_agents_of_its_final_report(cloud: Cloud,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The final report carries the last agent's new version: whoever sees the campaign finished sees it too."""
    from chalicelib.repositories.upgrade_campaign import UpgradeCampaignRepository

    _publish(cloud)
    cid = cloud.post("/api/upgrades/campaigns", {**PACKAGE, "site_ids": ["s1"]}).json_body["data"]["campaign_id"]
    _report(cloud, "s1", cid, "running", [{"agent_id": "s1-pc1", "state": "upgraded", "version": "1.1.0"},
                                          {"agent_id": "s1-pc2", "state": "restarting", "version": "1.0.0"}])
    cloud.clock.advance(1)
    seen_when_written: list[dict[str, Any]] = []
    save_site = UpgradeCampaignRepository.save_site

    def watched(self: UpgradeCampaignRepository, campaign_id: str, site: Any) -> bool:
        seen_when_written.append(cloud.get(f"/api/upgrades/campaigns/{campaign_id}").json_body["data"])
        return save_site(self, campaign_id, site)

    monkeypatch.setattr(UpgradeCampaignRepository, "save_site", watched)
    _report(cloud, "s1", cid, "succeeded", [{"agent_id": "s1-pc2", "state": "upgraded", "version": "1.1.0"}])
    (before,) = seen_when_written  # the moment the site's state is written: the agents are there already
    assert {(a["agent_id"], a["state"], a["version"]) for a in before["agents"]} == {
        ("s1-pc1", "upgraded", "1.1.0"), ("s1-pc2", "upgraded", "1.1.0")}
    view = cloud.get(f"/api/upgrades/campaigns/{cid}").json_body["data"]
    assert view["state"] == "succeeded" and {a["version"] for a in view["agents"]} == {"1.1.0"}
