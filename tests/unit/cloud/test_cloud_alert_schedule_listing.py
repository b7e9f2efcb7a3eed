"""``evaluate_alerts`` lists the tenant's sites once a run (the index's keys, then the sites' items) and hands the
same listing to the alerts and to the overview summary's pass (docs/data-model.md, the cost notes); each of them,
called alone, still reads the listing itself. The pass, given a listing read before the summary, leaves alone an
entry written after it (a site registered meanwhile) and still drops the entry of a site gone before it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib import container
from chalicelib.handlers.alert_schedules import evaluate_alerts
from chalicelib.models.site import SiteModel
from chalicelib.repositories.site_summary import SiteSummaryRepository
from tests.unit.cloud.cloud_testkit import T0, AwsCall, Cloud, around_aws_calls, online, running_cloud

BEAT_S = 60.0


@pytest.fixture
def cloud() -> Iterator[Cloud]:
    with running_cloud() as running:
        running.heartbeat("s1", [online("a1")])
        running.heartbeat("s2", [online("b1")])
        assert running.get("/api/overview").status_code == 200  # the summary exists
        yield running


class SiteReads:
    """The site table's listings (Query of ``by_tenant_keys``) and BatchGetItems made inside the block."""

    def __init__(self) -> None:
        self.listings = 0
        self.batch_gets = 0

    def __call__(self, call: AwsCall, client: Any, operation: str, params: Any) -> Any:
        table = SiteModel.Meta.table_name
        if operation == "Query" and params.get("TableName") == table and params.get("IndexName") == "by_tenant_keys":
            self.listings += 1
        if operation == "BatchGetItem" and table in params.get("RequestItems", {}):
            self.batch_gets += 1
        return call(client, operation, params)


def _beat_s1_for(cloud: Cloud, seconds: float) -> None:
    for _ in range(int(seconds // BEAT_S)):
        cloud.clock.advance(BEAT_S)
        cloud.heartbeat("s1", [online("a1")])


def test_one_run_lists_the_sites_once_and_the_alerts_and_the_overview_come_out_right(cloud: Cloud) -> None:
    _beat_s1_for(cloud, 10 * BEAT_S)  # s2 silent for 10 minutes, s1 heard just now
    reads = SiteReads()
    with around_aws_calls(reads):
        result = evaluate_alerts({})
    assert (reads.listings, reads.batch_gets) == (1, 1)  # was (2, 2): the alerts', then the pass's
    assert (result["sites"], result["opened"]) == (2, 1)
    assert [a["site_id"] for a in cloud.get("/api/alerts").json_body["data"]["alerts"]] == ["s2"]
    overview = cloud.get("/api/overview").json_body["data"]
    assert overview["down"] == ["s2"]
    assert {r["site_id"]: r["last_heartbeat"] for r in overview["sites"]}["s2"] == T0


def test_each_called_alone_reads_the_listing_itself(cloud: Cloud) -> None:
    _beat_s1_for(cloud, 10 * BEAT_S)
    services = container.get()
    for run in (services.alert_evaluator.run, services.site_summaries.reconcile):
        reads = SiteReads()
        with around_aws_calls(reads):
            run()
        assert reads.listings == 1, run
    assert cloud.get("/api/overview").json_body["data"]["down"] == ["s2"]


def test_the_pass_keeps_an_entry_newer_than_its_listing_and_drops_a_site_gone_before_it(cloud: Cloud) -> None:
    SiteModel.get("s2").delete()  # gone without the service (which drops the entry itself): the pass must
    services = container.get()
    cloud.clock.advance(BEAT_S)
    listing = services.site_summaries.listing()
    cloud.clock.advance(BEAT_S)
    cloud.heartbeat("s3", [online("c1")])  # registered after the listing was read: its entry is written at once
    report = services.site_summaries.reconcile(listing)
    assert report.sites_removed == 1
    stored = SiteSummaryRepository().read()
    assert stored is not None and set(stored.sites) == {"s1", "s3"}
    services.site_summaries.reconcile()  # the next pass lists s3
    assert {r["site_id"] for r in cloud.get("/api/overview").json_body["data"]["sites"]} == {"s1", "s3"}
