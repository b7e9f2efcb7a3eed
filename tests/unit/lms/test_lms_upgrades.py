"""Agent packages, download tickets and waves of the LMS (edge/lms/upgrades; shared/agent_packages.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.lms.store import Store
from edge.lms.upgrades.campaigns import AgentState, CampaignRows, CampaignState, plan_waves
from edge.lms.upgrades.packages import PackageStore
from edge.lms.upgrades.runner import UpgradeRefused, Upgrades
from edge.lms.upgrades.settings import UpgradeSettings
from edge.lms.upgrades.tickets import DownloadTickets
from shared.agent_packages import PackageError, is_newer, sha256_of
from tests.fixtures.agent_packages import ReleaseKey, tiny_package
from tests.fixtures.lms_services import offline_services


def test_waves_canary_first_at_least_one() -> None:
    ids = [f"a{i:02d}" for i in range(25)]
    waves = plan_waves(ids, 10, 10)
    assert [len(w) for w in waves] == [3, 10, 10, 2] and [a for w in waves for a in w] == ids
    assert plan_waves(["a"], 10, 25) == [["a"]]
    assert plan_waves(["a", "b", "c"], 1, 25) == [["a"], ["b", "c"]]


def test_versions_compare_numerically() -> None:
    assert is_newer("1.10.0", "1.9.9") and not is_newer("1.0", "1.0.0") and not is_newer("0.9.0", "1.0.0")
    assert is_newer("0.1.0", "0.0.0+local")


def test_tickets_are_for_one_agent_and_one_version_and_expire() -> None:
    now = [1000.0]
    tickets = DownloadTickets(60, clock=lambda: now[0])
    t = tickets.mint("agent-1", "1.1.0")
    assert tickets.verify(t, "agent-1", "1.1.0")
    assert not tickets.verify(t, "agent-2", "1.1.0") and not tickets.verify(t, "agent-1", "1.2.0")
    assert not DownloadTickets(60, clock=lambda: now[0]).verify(t, "agent-1", "1.1.0")  # another process's key
    now[0] += 61
    assert not tickets.verify(t, "agent-1", "1.1.0")


def test_the_package_store_verifies_before_storing(tmp_path: Path) -> None:
    key = ReleaseKey()
    store = PackageStore(tmp_path / "pkgs", key.public)
    data = tiny_package("1.1.0")
    with pytest.raises(PackageError, match="checksum mismatch"):
        store.add("1.1.0", data, "0" * 64, key.sign("1.1.0", data))
    with pytest.raises(PackageError, match="not signed by the release key"):
        store.add("1.1.0", data, sha256_of(data), ReleaseKey().sign("1.1.0", data))
    with pytest.raises(PackageError, match="not a release version"):
        store.add("../1", data, sha256_of(data), key.sign("1.1.0", data))
    assert store.list() == [] and not (tmp_path / "pkgs").exists()
    info = store.add("1.1.0", data, sha256_of(data), key.sign("1.1.0", data))
    assert store.list() == [info] and store.archive("1.1.0").read_bytes() == data
    with pytest.raises(PackageError, match="already stored"):
        store.add("1.1.0", data, sha256_of(data), key.sign("1.1.0", data))


def test_cancel_ends_a_running_campaign_and_its_pending_agents(tmp_path: Path) -> None:
    store = Store(tmp_path / "lms.db").open()
    try:
        rows = CampaignRows(store)
        campaign_id = rows.create("1.1.0", "0" * 64, [[("a1", "1.0.0")], [("a2", "1.0.0")]], {}, "admin#1")
        rows.set_agent(campaign_id, "a1", AgentState.UPGRADED, version="1.1.0")
        assert rows.running() == [campaign_id]
        assert rows.finish(campaign_id, CampaignState.CANCELLED, "by hand")
        assert not rows.finish(campaign_id, CampaignState.FAILED)  # only a running campaign ends
        campaign = rows.get(campaign_id) or {}
        assert campaign["state"] == "cancelled" and rows.running() == []
        assert [(a["agent_id"], a["state"], a["version"]) for a in campaign["agents"]] == [
            ("a1", "upgraded", "1.1.0"), ("a2", "cancelled", "1.0.0")
        ]
    finally:
        store.close()


def test_a_campaign_running_when_the_lms_stopped_is_interrupted_at_the_next_start(tmp_path: Path) -> None:
    store = Store(tmp_path / "lms.db").open()
    try:
        services = offline_services(store, tmp_path)
        rows = CampaignRows(store)
        campaign_id = rows.create("1.1.0", "0" * 64, [[("a1", "1.0.0")]], {}, "admin#1")
        settings = UpgradeSettings(release_public_key=ReleaseKey().public)
        config = services.config.model_copy(update={"upgrades": settings})
        upgrades = Upgrades(config, store, services.registry, services.commands)
        campaign = upgrades.rows.get(campaign_id) or {}
        assert campaign["state"] == "interrupted" and campaign["agents"][0]["state"] == "cancelled"
        assert upgrades.base_url() == "https://127.0.0.1:8000"
        upgrades.config = config.model_copy(update={"http_host": "0.0.0.0"})
        with pytest.raises(UpgradeRefused, match="set \\[upgrades\\] package_base_url"):
            upgrades.base_url()
    finally:
        store.close()
