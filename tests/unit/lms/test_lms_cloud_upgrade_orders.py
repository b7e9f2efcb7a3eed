"""Upgrade campaigns ordered by the cloud, on the LMS (edge/lms/cloud/upgrade_orders.py, upgrade_reports.py): the
package downloaded into the verified cache, the campaign run once per cloud id, refusals reported with the reason;
and every retirement reported to the cloud through the outbox (edge/lms/cloud/agent_retirements.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.lms.agents import AgentRow, AgentRows, Registry
from edge.lms.agents.retirement import AgentRetirement
from edge.lms.auth import Audit
from edge.lms.cloud.agent_retirements import CloudRetirements, RetirementReports
from edge.lms.cloud.outbox import Outbox
from edge.lms.cloud.upgrade_orders import CloudUpgrades
from edge.lms.cloud.upgrade_reports import CampaignReports
from edge.lms.store import Store
from edge.lms.upgrades.campaigns import CampaignRows
from edge.lms.upgrades.runner import UpgradeRefused, Upgrades
from edge.lms.upgrades.settings import UpgradeSettings
from shared.agent_packages import sha256_of
from shared.messages import AgentRetire, UpgradeOrder
from shared.names import Namespace
from shared.topics import SiteUp, site_up
from tests.fixtures.agent_packages import ReleaseKey, tiny_package
from tests.fixtures.lms_services import offline_services

NS = Namespace("demo", "dev")
URL = "https://bucket.example/agent-packages/1.1.0.tar.gz?X-Amz-Signature=abc"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "lms.db").open()
    yield store
    store.close()


class Site:
    def __init__(self, store: Store, tmp_path: Path, release: ReleaseKey | None) -> None:
        AgentRows(store).upsert(AgentRow("a1", "a1", first_seen=1.0))
        services = offline_services(store, tmp_path)
        services.registry.load()
        settings = None if release is None else UpgradeSettings(release_public_key=release.public, rollback_s=5)
        config = services.config.model_copy(update={"upgrades": settings})
        self.upgrades = Upgrades(config, store, services.registry, services.commands)
        self.outbox = Outbox(store)
        self.downloads: list[str] = []
        self.served = b""
        self.orders = CloudUpgrades(CampaignReports(CampaignRows(store), self.outbox, namespace=NS, site_id="s1"),
                                    Audit(store), download=self._download)  # fmt: skip
        self.orders.attach(self.upgrades)
        self.orders.start()

    def _download(self, url: str, max_bytes: int) -> bytes:
        self.downloads.append(url)
        return self.served

    def reports(self) -> list[dict[str, Any]]:
        return [json.loads(item.payload) for item in self.outbox._rows.peek(1000)
                if item.topic.endswith("/up/upgrades")]  # fmt: skip


def _start(release: ReleaseKey, data: bytes, campaign_id: str = "upg-1", **extra: Any) -> UpgradeOrder:
    fields: dict[str, Any] = {"sha256": sha256_of(data), "signature": release.sign("1.1.0", data), **extra}
    return UpgradeOrder(action="start", campaign_id=campaign_id, by="district admin", timestamp=1.0, version="1.1.0",
                        package_url=URL, **fields)


def test_a_start_downloads_verifies_and_runs_once(store: Store, tmp_path: Path) -> None:
    release = ReleaseKey()
    site = Site(store, tmp_path, release)
    try:
        package = tiny_package("1.1.0")
        site.served = package
        order = _start(release, package, agent_ids=["a1"], canary_percent=50, wave_size=1)
        site.orders.process(order)
        assert site.downloads == [URL]
        assert site.upgrades.packages is not None and site.upgrades.packages.get("1.1.0") is not None
        campaign_id = site.upgrades.rows.of_cloud("upg-1")
        assert campaign_id is not None
        campaign = site.upgrades.rows.get(campaign_id) or {}
        assert campaign["created_by"] == "cloud:district admin#0"
        assert campaign["options"]["cloud_campaign_id"] == "upg-1" and campaign["options"]["wave_size"] == 1
        (first, *_rest) = site.reports()
        assert (first["campaign_id"], first["lms_campaign_id"], first["version"]) == ("upg-1", campaign_id, "1.1.0")
        # delivered again (at least once): no second campaign, no second download
        site.orders.process(order)
        assert site.downloads == [URL] and [c["id"] for c in site.upgrades.rows.list()] == [campaign_id]
        audit = [(e["actor"], e["result"]) for e in Audit(store).recent(action="upgrade:campaign")]
        assert audit == [("cloud:district admin", "ok")]
        # cancel: the campaign stops (if still running) and the outcome is reported
        site.orders.process(UpgradeOrder(action="cancel", campaign_id="upg-1", by="x", timestamp=2.0))
        assert (site.upgrades.rows.get(campaign_id) or {})["state"] != "running"
    finally:
        site.orders.stop()


def test_bad_packages_and_refusals_are_reported_and_change_nothing(store: Store, tmp_path: Path) -> None:
    release = ReleaseKey()
    site = Site(store, tmp_path, release)
    try:
        package = tiny_package("1.1.0")
        tampered = package[:-20] + bytes(b ^ 0xFF for b in package[-20:])
        site.served = tampered  # the bucket (or whoever answers the URL) serves other bytes
        site.orders.process(_start(release, package))
        site.served = package
        site.orders.process(_start(release, package, "upg-2", signature=ReleaseKey().sign("1.1.0", package)))
        site.orders.process(_start(release, package, "upg-3", agent_ids=["nobody"]))
        site.orders.process(UpgradeOrder(action="cancel", campaign_id="upg-9", by="x", timestamp=1.0))
        states = [(r["campaign_id"], r["state"], r.get("detail") or "") for r in site.reports()]
        assert [(c, s) for c, s, _d in states] == [("upg-1", "refused"), ("upg-2", "refused"), ("upg-3", "refused"),
                                                 ("upg-9", "cancelled")]  # fmt: skip
        assert "checksum mismatch" in states[0][2] and "not signed by the release key" in states[1][2]
        assert "unknown agent(s): nobody" in states[2][2]
        assert site.upgrades.rows.list() == []
        # upg-3's package was good and is kept in the cache; the refused ones stored nothing
        assert site.upgrades.packages is not None and [p.version for p in site.upgrades.packages.list()] == ["1.1.0"]
        # a version the cache holds with other bytes is refused (a version never changes)
        other = tiny_package("1.1.0") + b"\0"
        site.orders.process(UpgradeOrder(action="start", campaign_id="upg-4", by="x", timestamp=1.0,
                                         version="1.1.0", sha256=sha256_of(other),
                                         signature=release.sign("1.1.0", other), package_url=URL))  # fmt: skip
        assert "holds another package 1.1.0" in (site.reports()[-1]["detail"] or "")
    finally:
        site.orders.stop()


def test_an_lms_without_upgrades_refuses_with_the_reason(store: Store, tmp_path: Path) -> None:
    site = Site(store, tmp_path, None)
    try:
        release = ReleaseKey()
        site.orders.process(_start(release, tiny_package("1.1.0")))
        (report,) = site.reports()
        assert report["state"] == "refused" and "not configured" in report["detail"] and site.downloads == []
    finally:
        site.orders.stop()


def test_a_bad_order_is_dropped(store: Store, tmp_path: Path) -> None:
    site = Site(store, tmp_path, ReleaseKey())
    try:
        for payload in (b"not json", b'{"v": 1, "type": "upgrade_order", "action": "start", "campaign_id": "c",'
                                     b' "by": "x", "timestamp": 1}', b'{"v": 1, "type": "upgrade_order"}'):
            site.orders.handle("t", payload)
        assert site.orders.refused == 3 and site.reports() == []
    finally:
        site.orders.stop()


def test_the_download_is_capped_and_its_failure_is_a_refusal(tmp_path: Path) -> None:
    from edge.lms.cloud.upgrade_orders import fetch_package

    big = tmp_path / "big.tar.gz"
    big.write_bytes(b"x" * 2000)
    with pytest.raises(UpgradeRefused, match="larger than 1000 bytes"):
        fetch_package(big.as_uri(), 1000)
    assert fetch_package(big.as_uri(), 5000) == b"x" * 2000
    with pytest.raises(UpgradeRefused, match="cannot download"):
        fetch_package((tmp_path / "missing").as_uri(), 1000)


def test_every_retirement_is_reported_to_the_cloud(store: Store) -> None:
    for agent_id in ("pc-1", "pc-2"):
        AgentRows(store).upsert(AgentRow(agent_id, agent_id, first_seen=1.0))
    registry = Registry(store, presence_timeout_s=60)
    registry.load()
    retirement = AgentRetirement(store, registry, enrolments=None, queue=None, site=None, clock=lambda: 100.0)
    outbox = Outbox(store)
    reports = RetirementReports(outbox, namespace=NS, site_id="s1")
    retirement.add_listener(reports.report)
    retirement.retire("pc-1", by="tech#3", reason="scrapped")  # the LMS's own API or CLI
    cloud = CloudRetirements(retirement, Audit(store), reports)
    assert cloud.process(AgentRetire(agent_id="pc-2", by="admin", timestamp=50.0))  # a cloud order
    assert not cloud.process(AgentRetire(agent_id="pc-1", by="admin", timestamp=60.0))  # retired already: reported
    assert not cloud.process(AgentRetire(agent_id="pc-9", by="admin", timestamp=70.0))  # unknown: reported
    sent = [json.loads(i.payload) for i in outbox._rows.peek(100)]
    assert {i.topic for i in outbox._rows.peek(100)} == {site_up(NS, "s1", SiteUp.RETIRED)}  # Basic Ingest
    assert [(m["agents"][0]["agent_id"], m["agents"][0]["by"]) for m in sent] == [
        ("pc-1", "tech#3"), ("pc-2", "cloud:admin"), ("pc-1", "cloud:admin"), ("pc-9", "cloud:admin")]


def test_a_new_state_goes_with_the_last_message_of_a_report(store: Store) -> None:
    """More changed agents than one message holds: the cloud is told the campaign finished only in the last one,
    after every agent (the cloud shows the site finished only with all its agents' outcomes)."""
    from edge.lms.upgrades.campaigns import AgentState, CampaignState
    from shared.messages.upgrades import MAX_REPORTED_AGENTS

    rows, outbox = CampaignRows(store), Outbox(store)
    agents = [f"pc-{i:03d}" for i in range(MAX_REPORTED_AGENTS + 1)]
    campaign_id = rows.create("1.1.0", "ab" * 32, [[(a, "1.0.0") for a in agents]], {"cloud_campaign_id": "upg-1"},
                              "cloud:admin")  # fmt: skip
    reports = CampaignReports(rows, outbox, namespace=NS, site_id="s1")
    assert reports.report_now(campaign_id, "upg-1") == 2
    for agent_id in agents:
        rows.set_agent(campaign_id, agent_id, AgentState.UPGRADED, version="1.1.0")
    rows.finish(campaign_id, CampaignState.SUCCEEDED)
    assert reports.report_now(campaign_id, "upg-1") == 2
    sent = [json.loads(item.payload) for item in outbox._rows.peek(100)]
    assert [(m["state"], len(m["agents"])) for m in sent] == [
        ("running", MAX_REPORTED_AGENTS), ("running", 1), ("running", MAX_REPORTED_AGENTS), ("succeeded", 1)]
    assert sent[2]["timestamp"] < sent[3]["timestamp"]
    assert reports.report_now(campaign_id, "upg-1") == 0  # nothing changed since
    # restarted: reported whole again, every message with the state it has (a finished site never goes back)
    again = CampaignReports(rows, Outbox(store), namespace=NS, site_id="s1")
    assert again.report_now(campaign_id, "upg-1") == 2
    assert [json.loads(i.payload)["state"] for i in outbox._rows.peek(100)][4:] == ["succeeded", "succeeded"]
