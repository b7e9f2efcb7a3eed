"""The overview summary (services/site_summaries.py, repositories/site_summary.py): the overview reads a fixed number
of items whatever the number of sites; the heartbeat intake writes a site's entry only when what the overview shows
of it changed; concurrent writers never lose each other's entries and a late one never puts an older state back;
the minute's pass marks silent sites down and repairs what the intake missed; a tenant without a summary gets one on
first read; a removed site leaves it; and a caller scoped to one site learns nothing of another's."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib import container
from chalicelib.domain.token import Principal, Role
from chalicelib.handlers.alert_schedules import evaluate_alerts
from chalicelib.models.change_mark import ChangeMarkModel
from chalicelib.repositories.site_summary import SHARDS, SiteSummaryRepository, shard_key, shard_of
from tests.unit.cloud.cloud_testkit import Cloud, dynamo_traffic, fetch_object, online, running_cloud


def overview(cloud: Cloud, role: str = "admin") -> dict[str, Any]:
    response = cloud.get("/api/overview", role=role)
    assert response.status_code == 200, response.body
    data: dict[str, Any] = response.json_body["data"]
    return data


def rows(cloud: Cloud, role: str = "admin") -> dict[str, dict[str, Any]]:
    return {r["site_id"]: r for r in overview(cloud, role)["sites"]}


def same_shard_sites(count: int) -> list[str]:
    """Site ids whose entries share one item (what concurrent writers of one item look like)."""
    found = [f"s{n}" for n in range(1, 200) if shard_of(f"s{n}") == shard_of("s1")]
    return found[:count]


def test_the_overview_reads_the_same_items_for_3_sites_as_for_40(cloud: Cloud) -> None:
    def items_read(sites: int) -> int:
        for n in range(sites):
            cloud.heartbeat(f"site-{n:02d}", [online(f"a{n}-{i}") for i in range(3)])
        overview(cloud)  # built
        with dynamo_traffic() as seen:
            data = overview(cloud)
        assert data["totals"]["sites"] == sites and data["totals"]["agents"] == 3 * sites
        return int(seen["items"])

    few, many = items_read(3), items_read(40)
    assert few == many
    # the API token, the change marks of the ETag, the summary's items, the tenant's ring of command counters
    assert many <= 1 + 4 + SHARDS + 1 < 10


def test_a_touch_writes_no_summary_and_a_presence_change_one_update(cloud: Cloud) -> None:
    cloud.heartbeat("s1", [online("a1"), online("a2")])
    overview(cloud)  # built
    with dynamo_traffic() as seen:
        cloud.clock.advance(61)  # only last_heartbeat moves (the site item is touched)
        cloud.heartbeat("s1", [online("a1"), online("a2")])
    assert seen["summary_updates"] == 0
    with dynamo_traffic() as seen:
        cloud.clock.advance(30)
        cloud.heartbeat("s1", [online("a1"), online("a2", status="offline")])
    assert seen["summary_updates"] == 1
    assert rows(cloud)["s1"]["agents"] == {"total": 2, "online": 1, "offline": 1}


def test_sites_sharing_an_item_never_lose_each_others_entries(cloud: Cloud) -> None:
    first, second = same_shard_sites(2)
    cloud.heartbeat(first, [online("a1")])
    cloud.heartbeat(second, [online("b1"), online("b2")])
    overview(cloud)  # built from the sites
    cloud.clock.advance(10)
    cloud.heartbeat(first, [online("a1"), online("a3")])  # each writes its own key of the same item
    cloud.heartbeat(second, [online("b1")])
    stored = rows(cloud)
    assert stored[first]["agents"]["total"] == 2 and stored[second]["agents"]["total"] == 1


def test_a_late_writer_never_puts_an_older_entry_back(cloud: Cloud) -> None:
    cloud.heartbeat("s1", [online("a1")])
    overview(cloud)
    repo = SiteSummaryRepository()
    newer = {"v": "2.0.0", "t": 5, "o": 5, "h": cloud.clock.now, "r": 50}
    older = {"v": "1.0.0", "t": 1, "o": 0, "h": cloud.clock.now - 5, "r": 49}
    assert repo.put_sites({"s1": newer}) == set()
    assert repo.put_sites({"s1": older}) == {"s1"}  # refused: the stored entry has a higher revision
    read = repo.read()
    assert read is not None and read.sites["s1"]["r"] == 50 and read.sites["s1"]["t"] == 5


def test_the_pass_marks_a_silent_site_down_and_a_heartbeat_brings_it_back_at_once(site: Cloud) -> None:
    overview(site)
    site.clock.advance(200)
    site.heartbeat("s2", [online("b1")])
    assert evaluate_alerts({})["summary"]["sites_written"] == 1  # s1 only: silent for 200 s
    data = overview(site)
    assert data["down"] == ["s1"] and data["totals"]["sites_down"] == 1
    assert data["sites"][0]["last_heartbeat"] == site.clock.now - 200  # its last heartbeat, exactly
    assert evaluate_alerts({})["summary"]["sites_written"] == 0  # nothing changed since
    with dynamo_traffic() as seen:
        site.heartbeat("s1", [online("a1")])  # back: the intake writes the entry, no pass needed
    assert seen["summary_updates"] == 1
    assert overview(site)["down"] == []


def test_the_pass_repairs_what_the_intake_lost(site: Cloud) -> None:
    overview(site)
    SiteSummaryRepository().remove(sites=["s1"])  # as if the intake's write had failed
    assert "s1" not in rows(site)
    assert evaluate_alerts({})["summary"]["sites_written"] == 1
    assert rows(site)["s1"]["agents"]["online"] == 1


def test_a_tenant_without_a_summary_gets_one_on_first_read(site: Cloud) -> None:
    """Migration: tenants made before the summary existed have no items; the first overview builds them."""
    for n in range(SHARDS):
        ChangeMarkModel(shard_key(n)).delete()
    assert SiteSummaryRepository().read() is None
    before = container.get().stats.tenant(Principal(name="test", role=Role.ADMIN, site_ids=None))
    data = overview(site)
    assert [r["site_id"] for r in data["sites"]] == ["s1", "s2"]
    assert data["totals"]["agents"] == before["agents"]["total"] and data["totals"]["online"] == 2
    assert SiteSummaryRepository().read() is not None
    with dynamo_traffic() as seen:
        overview(site)
    assert seen["items"] < 10  # built once: the site items are not read again


def test_a_deleted_or_retired_site_leaves_the_overview_at_once(site: Cloud) -> None:
    site.heartbeat("s3", [online("c1")])
    assert set(rows(site)) == {"s1", "s2", "s3"}
    assert site.delete("/api/lms/s2").status_code == 200
    assert set(rows(site)) == {"s1", "s3"}
    assert site.post("/api/lms/s3/retire", {}).status_code == 200
    assert set(rows(site)) == {"s1"}
    read = SiteSummaryRepository().read()
    assert read is not None and set(read.sites) == {"s1"}


def test_client_freshness_comes_from_the_summary() -> None:
    with running_cloud(client_policy="open") as cloud:
        body = {"client_uuid": "c1", "courses": [], "schedule_entries": []}
        assert cloud.post("/api/sync", body, role=None).status_code == 200
        assert overview(cloud)["sync"]["clients"]["within_1h"] == 1  # built after the sync
        assert cloud.post("/api/sync", {**body, "client_uuid": "c2"}, role=None).status_code == 200
        assert overview(cloud)["sync"]["clients"]["total"] == 1  # not yet: the pass writes clients
        evaluate_alerts({})
        assert overview(cloud)["sync"]["clients"]["total"] == 2
        cloud.clock.advance(2 * 3600)
        clients = overview(cloud)["sync"]["clients"]
        assert clients["within_24h"] == 2 and clients["within_1h"] == 0


@pytest.mark.parametrize("role", ["operator", "viewer"])
def test_a_caller_of_site_a_gets_no_figure_of_site_b(site: Cloud, role: str) -> None:
    """Attack: an operator (or viewer) of s1 reads the overview, directly and from its object in S3, and looks
    for anything of s2 — its id, its agents, its counts in the totals, its silence, its commands, the clients."""
    site.heartbeat("s2", [online("b1"), online("b2"), online("b3", status="offline")], lms_version="9.9.9-secret")
    site.tokens["a-only"] = container.get().tokens.create(role, "s1 only", site_ids=["s1"]).secret
    site.clock.advance(200)
    site.heartbeat("s1", [online("a1")])
    evaluate_alerts({})  # s2 is now silent: down in the tenant's overview
    assert overview(site)["down"] == ["s2"]
    answers = [site.get("/api/overview", role="a-only"), site.get("/api/overview?events=50", role="a-only")]
    for answer in answers:
        assert answer.status_code == 200
    feed = site.get("/api/overview/feed", role="a-only").json_body["data"]["url"]
    for data in [*(a.json_body["data"] for a in answers), fetch_object(feed)]:
        text = json.dumps(data)
        assert "s2" not in text and "b1" not in text and "9.9.9-secret" not in text
        assert data["totals"] == {"sites": 1, "sites_down": 0, "agents": 1, "online": 1, "offline": 0}
        assert data["down"] == [] and [r["site_id"] for r in data["sites"]] == ["s1"]
        assert data["sync"]["sites_reporting"] == 1 and "clients" not in data["sync"]


def test_a_site_made_again_after_its_deletion_gets_its_entry_back(site: Cloud) -> None:
    """An entry left by a deleted site (here: put back by a late writer) must not block the entries of a site of the
    same id made again by a heartbeat (whose revisions start over)."""
    overview(site)
    stale = {"v": "1.0.0", "t": 9, "o": 9, "h": site.clock.now, "r": 40}
    assert site.delete("/api/lms/s2").status_code == 200
    assert SiteSummaryRepository().put_sites({"s2": stale}) == set()  # the late writer
    site.clock.advance(10)
    site.heartbeat("s2", [online("b1"), online("b2")])  # made again: revision 1, refused by the stale entry
    assert rows(site)["s2"]["agents"]["total"] == 9
    evaluate_alerts({})
    assert rows(site)["s2"]["agents"]["total"] == 2


def test_a_link_iot_core_says_went_down_shows_at_once_and_a_later_heartbeat_brings_it_back(site: Cloud) -> None:
    """Presence per hop from the summary: the lifecycle event writes the site's entry (no pass needed); the next
    heartbeat, newer than the event, shows the link up again at once."""
    from test_cloud_site_link import lifecycle

    overview(site)
    site.clock.advance(5)
    assert lifecycle(site, "disconnected", at_s=site.clock.now, reason="CONNECTION_LOST")["ok"] is True
    row = rows(site)["s1"]
    assert (row["reporting"], row["link_up"], row["lms_up"]) == (False, False, None)
    site.clock.advance(5)
    site.heartbeat("s1", [online("a1")])
    row = rows(site)["s1"]
    assert (row["reporting"], row["link_up"], row["lms_up"]) == (True, True, True)
