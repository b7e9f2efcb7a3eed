"""Agents' snapshots from their sites (``site_sync`` rule handler): the last-writer rule, idempotent redelivery,
site ownership, and ``GET /api/agents/{agent_id}/snapshots`` (viewer, site-scoped)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from chalicelib import container
from chalicelib.models import MetricRollupModel
from chalicelib.repositories.metric_rollup import MetricRollupRepository
from shared.messages import snapshot_hash
from tests.unit.cloud.cloud_testkit import Cloud, online


@pytest.fixture
def fleet(cloud: Cloud) -> Cloud:
    cloud.heartbeat("s1", [online("a1"), online("a2")])
    cloud.heartbeat("s2", [online("b1")])
    return cloud


def entry(agent: str = "a1", kind: str = "settings", version: int = 1, data: dict[str, Any] | None = None,
          epoch: str = "e0001") -> dict[str, Any]:
    body = {"theme": "dark"} if data is None else data
    return {"agent_id": agent, "kind": kind, "epoch": epoch, "version": version, "hash": snapshot_hash(body),
            "data": body, "updated_at": 1_700_000_000.0}


def sync(cloud: Cloud, site_id: str, *entries: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = cloud.invoke("site_sync", {"type": "agent_snapshots", "v": 1, "snapshots": list(entries),
                                                        "site_id": site_id})
    return answer


def stored(cloud: Cloud, agent: str = "a1") -> dict[str, dict[str, Any]]:
    response = cloud.get(f"/api/agents/{agent}/snapshots", role="viewer")
    assert response.status_code == 200, response.json_body
    return {s["kind"]: s for s in response.json_body["data"]["snapshots"]}


def test_snapshots_are_stored_and_listed(fleet: Cloud) -> None:
    report = sync(fleet, "s1", entry(), entry(kind="classtop", data={"courses": [{"id": 1}]}),
                  entry(agent="a2", kind="cctv_config", data={"cameras": 2}))
    assert report["ok"] and (report["applied"], report["ignored"], report["rejected"]) == (3, 0, 0)
    mine = stored(fleet)
    assert sorted(mine) == ["classtop", "settings"]
    assert mine["settings"]["data"] == {"theme": "dark"} and mine["settings"]["version"] == 1
    assert mine["settings"]["site_id"] == "s1" and mine["classtop"]["data"] == {"courses": [{"id": 1}]}
    assert sorted(stored(fleet, "a2")) == ["cctv_config"]


def test_last_writer_rule(fleet: Cloud, caplog: pytest.LogCaptureFixture) -> None:
    sync(fleet, "s1", entry(version=2, data={"v": "two"}))
    older = sync(fleet, "s1", entry(version=1, data={"v": "one"}))
    assert (older["applied"], older["ignored"]) == (0, 1)
    assert stored(fleet)["settings"]["data"] == {"v": "two"}
    with caplog.at_level(logging.WARNING):
        clash = sync(fleet, "s1", entry(version=2, data={"v": "other"}))
    assert (clash["applied"], clash["conflicts"]) == (0, 1)
    assert "conflict" in caplog.text
    assert stored(fleet)["settings"]["data"] == {"v": "two"}
    newer = sync(fleet, "s1", entry(version=3, data={"v": "three"}))
    assert newer["applied"] == 1 and stored(fleet)["settings"]["data"] == {"v": "three"}
    # a new epoch (a recreated LMS database: epochs grow) wins even with a smaller version
    reborn = sync(fleet, "s1", entry(version=1, epoch="e0002", data={"v": "reborn"}))
    assert reborn["applied"] == 1 and stored(fleet)["settings"]["data"] == {"v": "reborn"}


def test_redelivery_is_idempotent(fleet: Cloud) -> None:
    first = sync(fleet, "s1", entry(), entry(kind="classtop", data={"courses": []}))
    before = stored(fleet)
    again = sync(fleet, "s1", entry(), entry(kind="classtop", data={"courses": []}))
    assert first["applied"] == 2 and (again["applied"], again["ignored"], again["conflicts"]) == (0, 2, 0)
    assert stored(fleet) == before


def test_a_site_writes_only_its_own_agents(fleet: Cloud) -> None:
    report = sync(fleet, "s2", entry(agent="a1"), entry(agent="ghost"), entry(agent="b1"))
    assert (report["applied"], report["rejected"]) == (1, 2)
    assert stored(fleet) == {}
    assert sorted(stored(fleet, "b1")) == ["settings"]


@pytest.mark.parametrize("change", [
    {"snapshots": []},
    {"snapshots": [{**entry(), "kind": "passwords"}]},
    {"snapshots": [{**entry(), "version": 0}]},
    {"snapshots": [entry(), entry(version=2)]},
    {"type": "site_events"},
])
def test_bad_messages_are_dropped_and_write_nothing(fleet: Cloud, change: dict[str, Any]) -> None:
    event = {"type": "agent_snapshots", "v": 1, "snapshots": [entry()], "site_id": "s1", **change}
    result = fleet.invoke("site_sync", event)
    assert result["ok"] is False and result["error"]["code"] == "bad_payload"
    assert stored(fleet) == {}


def test_no_site_id_is_dropped(fleet: Cloud) -> None:
    result = fleet.invoke("site_sync", {"type": "agent_snapshots", "v": 1, "snapshots": [entry()]})
    assert result["ok"] is False


def test_listing_is_site_scoped(fleet: Cloud) -> None:
    sync(fleet, "s1", entry())
    sync(fleet, "s2", entry(agent="b1"))
    secret = container.get().tokens.create("viewer", "s2-viewer", site_ids=["s2"]).secret
    headers = {"Authorization": f"Bearer {secret}"}
    assert fleet.request("GET", "/api/agents/b1/snapshots", role=None, headers=headers).status_code == 200
    assert fleet.request("GET", "/api/agents/a1/snapshots", role=None, headers=headers).status_code == 404
    assert fleet.get("/api/agents/nobody/snapshots").status_code == 404
    assert fleet.get("/api/agents/bad%20id/snapshots").status_code in (400, 404)
    assert fleet.get("/api/agents/a1/snapshots", role=None).status_code == 401


# ------------------------------------------------------------------ metric rollups (site_metrics rule)

HOUR = 1_699_999_200  # a whole hour (epoch s)


def rollup(agent: str = "a1", start: int = HOUR, cpu: float = 10.0) -> dict[str, Any]:
    return {"agent_id": agent, "start": start, "period_s": 300, "samples": 30, "cpu_min": 1.0, "cpu_avg": cpu,
            "cpu_max": 50.0, "mem_min": 40.0, "mem_avg": 45.0, "mem_max": 50.0}


def metrics(cloud: Cloud, site_id: str, *rollups: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = cloud.invoke("site_metrics", {"type": "metric_rollups", "v": 1, "rollups": list(rollups),
                                                           "site_id": site_id})
    return answer


def test_metric_rollups_are_stored_per_agent_hour_with_a_ttl_idempotently(fleet: Cloud) -> None:
    hour = [rollup(), rollup(start=HOUR + 300, cpu=20.0)]
    report = metrics(fleet, "s1", *hour, rollup(start=HOUR + 3600, cpu=30.0), rollup(agent="a2"))
    # one item per (agent, hour): a1's two hours and a2's one
    assert report["ok"] and (report["stored"], report["rejected"]) == (3, 0)
    again = metrics(fleet, "s1", *hour)
    assert again["stored"] == 1
    stored = MetricRollupRepository().between("a1", HOUR, HOUR + 7200)
    assert [(r.start, r.cpu_avg, r.samples, r.mem_max) for r in stored] == [
        (HOUR, 10.0, 30, 50.0), (HOUR + 300, 20.0, 30, 50.0), (HOUR + 3600, 30.0, 30, 50.0)]
    assert [r.start for r in MetricRollupRepository().between("a1", HOUR + 300, HOUR + 3600)] == [HOUR + 300]
    item = MetricRollupModel.get("a1", HOUR)
    assert item.site_id == "s1"
    assert item.ttl is not None and item.ttl.timestamp() > HOUR + 3600 + 29 * 24 * 3600


def test_metric_rollups_of_other_sites_agents_are_rejected(fleet: Cloud) -> None:
    report = metrics(fleet, "s2", rollup(agent="a1"), rollup(agent="ghost"), rollup(agent="b1"))
    assert (report["stored"], report["rejected"]) == (1, 2)
    assert MetricRollupRepository().between("a1", 0, 2_000_000_000) == []
    assert len(MetricRollupRepository().between("b1", 0, 2_000_000_000)) == 1


def test_bad_metric_rollups_are_dropped(fleet: Cloud) -> None:
    result = metrics(fleet, "s1", {**rollup(), "start": HOUR + 1})
    assert result["ok"] is False and result["error"]["code"] == "bad_payload"
    assert MetricRollupRepository().between("a1", 0, 2_000_000_000) == []
