"""The sites' listing index (``site.by_tenant_keys``) holds their keys alone, so a heartbeat's touch (it moves only
``last_heartbeat`` and ``revision``) writes the table and not the index (docs/data-model.md#the-site-heartbeat); and
no reader of the listing gets a site without its heartbeat: the site list, the statistics, the alert schedule, the
overview's minute pass and the versions each see every site's exact stored stamp. While the index is missing or
backfilling (the release that made it: docs/deploy.md) the one it replaces lists the sites."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib import container
from chalicelib.handlers.alert_schedules import evaluate_alerts
from chalicelib.models.site import SiteModel
from tests.unit.cloud.cloud_testkit import SETTINGS, T0, Cloud, online, running_cloud

#: s1 heartbeats every minute; s2 fell silent at T0
BEAT_S = 60.0


@pytest.fixture
def cloud() -> Iterator[Cloud]:
    with running_cloud() as running:
        running.heartbeat("s1", [online("a1")], lms_version="2.0.0")
        running.heartbeat("s2", [online("b1")], lms_version="1.9.0")
        yield running


def _client() -> Any:
    return SiteModel._get_connection().connection.client


def _index_rows(index: str = "by_tenant_keys") -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = _client().query(
        TableName=SiteModel.Meta.table_name, IndexName=index, KeyConditionExpression="tenant = :t",
        ExpressionAttributeValues={":t": {"S": SETTINGS.tenant}})["Items"]
    return rows


def _beat_s1_for(cloud: Cloud, seconds: float) -> None:
    """s1 heartbeats every minute for ``seconds``; s2 stays silent."""
    for _ in range(int(seconds // BEAT_S)):
        cloud.clock.advance(BEAT_S)
        assert cloud.heartbeat("s1", [online("a1")], lms_version="2.0.0")["site_written"] is True


def _stored_stamp(site_id: str) -> float:
    return float(SiteModel.get(site_id, consistent_read=True).last_heartbeat)


def test_the_index_holds_the_keys_alone_and_a_touch_leaves_it_as_it_was(cloud: Cloud) -> None:
    table = _client().describe_table(TableName=SiteModel.Meta.table_name)["Table"]
    projections = {i["IndexName"]: i["Projection"] for i in table["GlobalSecondaryIndexes"]}
    assert projections == {"by_tenant_keys": {"ProjectionType": "KEYS_ONLY"}}
    before = _index_rows()
    assert before == [{"site_id": {"S": s}, "tenant": {"S": SETTINGS.tenant}} for s in ("s1", "s2")]
    _beat_s1_for(cloud, BEAT_S)  # a touch: the stamp and the revision move
    assert _stored_stamp("s1") == T0 + BEAT_S
    assert _index_rows() == before  # nothing the index holds changed: DynamoDB writes the table alone


def test_the_site_list_shows_each_sites_stamp_page_after_page(cloud: Cloud) -> None:
    _beat_s1_for(cloud, 3 * BEAT_S)
    first = cloud.get("/api/lms?limit=1").json_body["data"]
    second = cloud.get(f"/api/lms?limit=1&cursor={first['cursor']}").json_body["data"]
    listed = {s["site_id"]: s for s in [*first["sites"], *second["sites"]]}
    assert {k: v["last_heartbeat"] for k, v in listed.items()} == {"s1": T0 + 3 * BEAT_S, "s2": T0}
    assert {k: v["lms_version"] for k, v in listed.items()} == {"s1": "2.0.0", "s2": "1.9.0"}
    assert second["cursor"] is None or cloud.get(f"/api/lms?limit=1&cursor={second['cursor']}").json_body[
        "data"]["sites"] == []


def test_the_statistics_tell_the_silent_site_from_the_reporting_one(cloud: Cloud) -> None:
    _beat_s1_for(cloud, 3 * BEAT_S)  # s2 silent for 180 s, past the statistics' 150 s; s1 heard just now
    assert cloud.get("/api/stats").json_body["data"]["sites"] == {"total": 2, "reporting": 1, "stale": 1}


def test_the_alert_schedule_raises_the_silent_site_alone(cloud: Cloud) -> None:
    _beat_s1_for(cloud, 10 * BEAT_S)
    assert evaluate_alerts({})["opened"] == 1
    alerts = cloud.get("/api/alerts").json_body["data"]["alerts"]
    assert [a["site_id"] for a in alerts] == ["s2"]


def test_the_minute_pass_gives_the_overview_the_silent_sites_exact_stamp(cloud: Cloud) -> None:
    cloud.get("/api/overview")  # the summary exists
    _beat_s1_for(cloud, 4 * BEAT_S)
    evaluate_alerts({})
    overview = cloud.get("/api/overview").json_body["data"]
    assert overview["down"] == ["s2"]
    assert {r["site_id"]: r["last_heartbeat"] for r in overview["sites"]}["s2"] == T0


def test_the_versions_read_every_sites_lms_version(cloud: Cloud) -> None:
    data = cloud.get("/api/versions", role="viewer").json_body["data"]
    assert data["newest"]["lms"] == "2.0.0" and [s["site_id"] for s in data["sites"]] == ["s2"]


def test_while_the_index_is_not_there_yet_the_one_it_replaces_lists_the_sites(cloud: Cloud) -> None:
    """The first release's window: CloudFormation made ``by_tenant_keys`` beside ``by_tenant`` and does not wait for
    its backfill; moto's table here has the old index alone, as an upgraded tenant's has until then."""
    _beat_s1_for(cloud, BEAT_S)
    client, table = _client(), SiteModel.Meta.table_name
    client.update_table(TableName=table, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "by_tenant_keys"}}])
    client.update_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "tenant", "AttributeType": "S"},
                              {"AttributeName": "site_id", "AttributeType": "S"}],
        GlobalSecondaryIndexUpdates=[{"Create": {
            "IndexName": "by_tenant",
            "KeySchema": [{"AttributeName": "tenant", "KeyType": "HASH"},
                          {"AttributeName": "site_id", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"},
        }}],
    )
    assert len(_index_rows("by_tenant")) == 2
    first = container.get().site_records.page(limit=1)
    second = container.get().site_records.page(limit=1, cursor=first.cursor)
    assert [(s.site_id, s.last_heartbeat) for s in [*first.items, *second.items]] == [("s1", T0 + BEAT_S),
                                                                                      ("s2", T0)]
    assert cloud.get("/api/stats").json_body["data"]["sites"]["total"] == 2
