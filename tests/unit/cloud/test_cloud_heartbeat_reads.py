"""The heartbeat intake reads what it must and no more (docs/data-model.md#cloud-cost): a full heartbeat listing what
the site's item says the registry holds reads no agent, and a site with no order waiting has its orders read once
per ``ORDERS_RECHECK_S``. What the item says is the cloud's own (a digest of what it stored, a time it found no order):
nothing a site sends can make it skip a write, hide an order, or touch another site's item."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib import container
from chalicelib.domain.site_order import SiteOrder
from chalicelib.repositories.site import SiteRepository
from chalicelib.repositories.site_order import SiteOrderRepository
from chalicelib.services.heartbeat_marks import ORDERS_RECHECK_S
from shared.topics import site_thing_name
from tests.unit.cloud.cloud_testkit import NS, TENANT, Cloud, iot_client, online, running_cloud

FLEET = [online("s1-pc1"), online("s1-pc2")]


@pytest.fixture
def cloud() -> Iterator[Cloud]:
    with running_cloud() as running:
        for site in ("s1", "s2"):
            iot_client().create_thing(thingName=site_thing_name(NS, site))
        yield running


def _status(cloud: Cloud, agent_id: str) -> Any:
    return cloud.get(f"/api/agents/{agent_id}").json_body["data"]["status"]


def _beat(cloud: Cloud, site_id: str, agents: list[dict[str, Any]], *, full: bool = True) -> dict[str, Any]:
    cloud.clock.advance(30)
    answer: dict[str, Any] = cloud.heartbeat(site_id, agents, full=full)
    return answer


def test_an_unchanged_full_heartbeat_reads_no_agent_and_no_order(cloud: Cloud) -> None:
    first = _beat(cloud, "s1", FLEET)
    assert (first["agents_written"], first["agents_unchanged"], first["orders_read"]) == (2, False, True)
    again = _beat(cloud, "s1", FLEET)
    assert (again["agents_written"], again["agents_unchanged"], again["orders_read"]) == (0, True, False), again
    # last_seen alone is no change (it is not written either)
    assert _beat(cloud, "s1", [online("s1-pc1", last_seen=cloud.clock.now), online("s1-pc2")])["agents_unchanged"]
    # a change is read and written, and the next unchanged one is spared again
    changed = _beat(cloud, "s1", [online("s1-pc1", version="2.0"), *FLEET[1:]])
    assert (changed["agents_written"], changed["agents_unchanged"]) == (1, False)
    assert _beat(cloud, "s1", [online("s1-pc1", version="2.0"), *FLEET[1:]])["agents_unchanged"]
    # an agent gone from the list is offlined, as before
    gone = _beat(cloud, "s1", FLEET[:1])
    assert (gone["agents_offlined"], gone["agents_unchanged"]) == (1, False) and _status(cloud, "s1-pc2") == "offline"


def test_the_orders_are_read_again_after_the_recheck_period(cloud: Cloud) -> None:
    _beat(cloud, "s1", FLEET)
    assert not _beat(cloud, "s1", FLEET)["orders_read"]  # within the period, and the site's item was written
    cloud.clock.advance(ORDERS_RECHECK_S)
    assert _beat(cloud, "s1", FLEET)["orders_read"]


def test_a_lost_changed_only_heartbeat_is_repaired_by_the_next_full_one(cloud: Cloud) -> None:
    """The digest must not outlive a changed-only heartbeat: pc1 goes offline (delivered), comes back (lost); the
    next full heartbeat lists what the digest says — it must still write pc1 online."""
    _beat(cloud, "s1", FLEET)
    assert _beat(cloud, "s1", [{"agent_id": "s1-pc1", "status": "offline"}], full=False)["agents_written"] == 1
    assert _status(cloud, "s1-pc1") == "offline"
    repaired = _beat(cloud, "s1", FLEET)
    assert (repaired["agents_written"], repaired["agents_unchanged"]) == (1, False), repaired
    assert _status(cloud, "s1-pc1") == "online"


def test_an_agent_moved_away_and_back_is_brought_online_by_its_sites_next_heartbeat(cloud: Cloud) -> None:
    _beat(cloud, "s1", FLEET)
    _beat(cloud, "s2", [online("s2-pc1")])
    for site in ("s2", "s1"):  # moved away, then back: offline at s1 until s1 reports it
        assert cloud.post("/api/agents/s1-pc1/move", {"site_id": site}).status_code == 200
    assert _status(cloud, "s1-pc1") == "offline"
    back = _beat(cloud, "s1", FLEET)
    assert (back["agents_written"], back["agents_unchanged"]) == (1, False), back
    assert _status(cloud, "s1-pc1") == "online"


def test_an_agent_retired_at_its_site_and_listed_again_comes_back_as_before(cloud: Cloud) -> None:
    _beat(cloud, "s1", FLEET)
    retired = cloud.invoke(
        "agents_retired",
        {
            "type": "agents_retired",
            "v": 1,
            "site_id": "s1",
            "agents": [{"agent_id": "s1-pc2", "retired_at": cloud.clock.now, "by": "tech#1", "reason": "scrapped"}],
        },
    )
    assert retired["cleaned"] == ("s1-pc2",) or retired["cleaned"] == ["s1-pc2"], retired
    # an LMS that still lists it (re-enrolled) brings it back, as the intake always did
    assert _beat(cloud, "s1", FLEET)["agents_written"] == 1
    assert cloud.get("/api/agents/s1-pc2").status_code == 200


def test_a_site_listing_another_sites_agent_is_refused_every_time(cloud: Cloud) -> None:
    """The attacker: s2's LMS lists s1's agent. Its heartbeat is never spared the reads that refuse it."""
    _beat(cloud, "s1", FLEET)
    for _ in range(3):
        report = _beat(cloud, "s2", [online("s2-pc1"), {"agent_id": "s1-pc1", "status": "offline"}])
        assert list(report["agents_refused"]) == ["s1-pc1"] and not report["agents_unchanged"], report
    assert _status(cloud, "s1-pc1") == "online"
    # and s2's heartbeats leave s1's item as it was: s1 is still spared
    assert _beat(cloud, "s1", FLEET)["agents_unchanged"]


def test_an_order_given_while_none_waited_goes_again_after_the_next_full_heartbeat(cloud: Cloud) -> None:
    """An order to a site whose item says "no order waiting" is read (and resent) by its next full heartbeat."""
    _beat(cloud, "s1", FLEET)
    assert not _beat(cloud, "s1", FLEET)["orders_read"]
    r = cloud.post("/api/agents/s1-pc2/retire", {"reason": "moved"})
    assert r.status_code == 200, r.json_body
    cloud.clock.advance(60)
    report = _beat(cloud, "s1", FLEET)
    assert report["orders_read"] and list(report["agents_retiring"]) == ["s1-pc2"], report
    assert report["orders_resent"] == 1
    assert cloud.get("/api/agents/s1-pc2").status_code == 404  # not brought back
    # it stays read while the order waits
    assert _beat(cloud, "s1", FLEET)["orders_read"]


def test_an_order_stored_without_clearing_the_mark_is_found_within_the_recheck_period(cloud: Cloud) -> None:
    """The bound: an order whose site item could not be updated (DynamoDB refused) waits at most
    ``ORDERS_RECHECK_S`` for a heartbeat to read it."""
    _beat(cloud, "s1", FLEET)
    assert not _beat(cloud, "s1", FLEET)["orders_read"]
    payload = _ack_message().model_dump_json()
    SiteOrderRepository().save(
        SiteOrder("s1", "ack#x", "alert_ack", payload, cloud.clock.now, 0.0, cloud.clock.now + 3600)
    )  # stored; the site's mark left as it was
    cloud.clock.advance(ORDERS_RECHECK_S)
    report = _beat(cloud, "s1", FLEET)
    assert report["orders_read"] and report["orders_resent"] == 1, report


def test_a_heartbeat_that_read_the_site_before_an_order_cannot_mark_none_waiting(cloud: Cloud) -> None:
    """The race: an order is given between a heartbeat's read of the site and its write. The order clears the mark
    with a new revision, so the heartbeat's stale write of "none waiting" fails and the next heartbeat reads."""
    _beat(cloud, "s1", FLEET)
    sites = SiteRepository(TENANT)
    before = sites.get("s1")
    assert before is not None and before.orders_checked_at is not None
    container.get().site_orders.give("s1", "ack#y", _ack_channel(), _ack_message())
    after = sites.get("s1")
    assert after is not None and after.orders_checked_at is None and after.revision != before.revision
    assert _beat(cloud, "s1", FLEET)["orders_read"]


def test_another_sites_order_does_not_spare_or_cost_this_site(cloud: Cloud) -> None:
    _beat(cloud, "s1", FLEET)
    _beat(cloud, "s2", [online("s2-pc1")])
    container.get().site_orders.give("s2", "ack#z", _ack_channel(), _ack_message())
    assert not _beat(cloud, "s1", FLEET)["orders_read"]
    assert _beat(cloud, "s2", [online("s2-pc1")])["orders_read"]


def _ack_channel() -> Any:
    from shared.topics import SiteDown

    return SiteDown.ALERT_ACK


def _ack_message() -> Any:
    from shared.messages.alert import AlertAcknowledgement

    return AlertAcknowledgement(alert_id="a" * 32, key="b" * 32, acknowledged_by="admin", acknowledged_at=0.0)


def test_a_full_heartbeat_right_after_a_changed_only_one_records_no_digest(cloud: Cloud) -> None:
    """The index the full heartbeat reads a site's agents from is eventually consistent: right after a changed-only
    heartbeat wrote an agent it may not show it, so what the full heartbeat saw is not taken as the registry's
    state — the next full heartbeat reads the agents again."""
    _beat(cloud, "s1", FLEET)
    _beat(cloud, "s1", FLEET)
    cloud.clock.advance(30)
    assert cloud.heartbeat("s1", [{"agent_id": "s1-pc1", "status": "offline"}], full=False)["site_written"]
    cloud.clock.advance(30)  # the digest is gone: a second changed-only heartbeat still writes the site
    assert cloud.heartbeat("s1", [online("s1-pc1")], full=False)["site_written"]
    cloud.clock.advance(1)
    assert not cloud.heartbeat("s1", FLEET)["agents_unchanged"]
    cloud.clock.advance(30)
    assert not cloud.heartbeat("s1", FLEET)["agents_unchanged"]  # read again: the last one recorded no digest
    assert _beat(cloud, "s1", FLEET)["agents_unchanged"]
