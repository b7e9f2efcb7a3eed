"""The dashboard's polls (api/etags.py, GET /api/overview): an unchanged answer is a 304 that cost one read of the
change marks; any write to the polled area, another caller, or time for an answer that ages, gives a new ETag."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import botocore.client
import pytest

from chalicelib import container
from chalicelib.handlers.alert_schedules import evaluate_alerts
from tests.unit.cloud.cloud_testkit import Cloud, online

_real = botocore.client.BaseClient._make_api_call  # type: ignore[attr-defined]  # not in botocore-stubs


@contextmanager
def aws_calls() -> Iterator[list[str]]:
    """Every AWS operation made inside the block, in order."""
    made: list[str] = []

    def record(self: Any, operation: str, params: Any) -> Any:
        made.append(operation)
        return _real(self, operation, params)

    botocore.client.BaseClient._make_api_call = record  # type: ignore[attr-defined]
    try:
        yield made
    finally:
        botocore.client.BaseClient._make_api_call = _real  # type: ignore[attr-defined]


def poll(cloud: Cloud, path: str, tag: str | None = None, role: str = "admin") -> Any:
    return cloud.request("GET", path, role=role, headers={"If-None-Match": tag} if tag else None)


@pytest.mark.parametrize("path", ["/api/agents", "/api/lms", "/api/overview", "/api/cctv/events?day=2023-11-14"])
def test_an_unchanged_poll_is_a_304_after_one_read(site: Cloud, path: str) -> None:
    first = poll(site, path)
    assert first.status_code == 200 and first.headers["ETag"].startswith('"')
    assert "no-cache" in first.headers["Cache-Control"]
    with aws_calls() as made:
        again = poll(site, path, first.headers["ETag"])
    assert again.status_code == 304 and again.body in (b"", "")
    # authentication (the API token's item) and the change marks: nothing of the area itself
    assert made == ["GetItem", "BatchGetItem"], made
    assert poll(site, path, f'W/{first.headers["ETag"]}').status_code == 304  # a weak tag compares equal
    assert poll(site, path, '"stale"').status_code == 200


def test_a_change_of_the_area_gives_a_new_answer(site: Cloud) -> None:
    tag = poll(site, "/api/agents").headers["ETag"]
    site.heartbeat("s1", [online("a1"), online("a9")])
    changed = poll(site, "/api/agents", tag)
    assert changed.status_code == 200 and changed.headers["ETag"] != tag
    assert "a9" in [a["agent_id"] for a in changed.json_body["data"]["agents"]]


def test_another_caller_or_query_never_shares_a_tag(site: Cloud) -> None:
    tag = poll(site, "/api/agents").headers["ETag"]
    assert poll(site, "/api/agents", tag, role="viewer").status_code == 200  # a viewer's answer is its own
    assert poll(site, "/api/agents?site_id=s1", tag).status_code == 200


def test_the_overview_ages_with_the_clock(site: Cloud) -> None:
    first = poll(site, "/api/overview")
    assert first.json_body["data"]["down"] == []
    site.clock.advance(600)  # no heartbeat for ten minutes: the minute's pass marks both sites down
    evaluate_alerts({})
    later = poll(site, "/api/overview", first.headers["ETag"])
    assert later.status_code == 200 and later.json_body["data"]["down"] == ["s1", "s2"]


def test_without_the_minutes_pass_the_overview_still_ages(site: Cloud) -> None:
    """If the pass stopped, a site whose stored heartbeat is older than ``TRUSTED_S`` is down all the same."""
    from chalicelib.domain.site_summary import TRUSTED_S

    tag = poll(site, "/api/overview").headers["ETag"]
    site.clock.advance(TRUSTED_S + 1)
    later = poll(site, "/api/overview", tag)
    assert later.status_code == 200 and later.json_body["data"]["down"] == ["s1", "s2"]


def test_the_overview_counts_and_lists(site: Cloud) -> None:
    site.invoke("site_events", {"type": "site_events", "v": 1, "site_id": "s1", "events": [
        {"agent_id": "a1", "event": {"type": "event", "v": 1, "kind": "camera.offline", "severity": "warning",
                                     "message": "door camera lost", "timestamp": site.clock.now}}]})
    data = poll(site, "/api/overview").json_body["data"]
    assert data["totals"] == {"sites": 2, "sites_down": 0, "agents": 2, "online": 2, "offline": 0}
    assert [s["site_id"] for s in data["sites"]] == ["s1", "s2"]
    assert [e["kind"] for e in data["events"]] == ["camera.offline"]
    assert data["commands"]["day"]["success_rate"] is None and "clients" in data["sync"]
    newest = data["events"][0]["at"]
    assert poll(site, f"/api/overview?since={newest}").json_body["data"]["events"] == []
    for bad in ("since=yesterday", "since=-1", "events=0", "events=51"):
        assert poll(site, f"/api/overview?{bad}").status_code == 400, bad


def test_a_scoped_caller_sees_only_its_sites(site: Cloud) -> None:
    site.tokens["scoped"] = container.get().tokens.create("viewer", "s2 only", site_ids=["s2"]).secret
    data = poll(site, "/api/overview", role="scoped").json_body["data"]
    assert [s["site_id"] for s in data["sites"]] == ["s2"] and "clients" not in data["sync"]


def test_one_heartbeat_bumps_each_area_once_and_a_touch_bumps_none(site: Cloud) -> None:
    from chalicelib.repositories.change_mark import Area, revisions

    before = revisions([Area.AGENTS, Area.SITES])
    site.heartbeat("s1", [online("a1"), *(online(f"n{i}") for i in range(5))])  # five new agents, one site change
    after = revisions([Area.AGENTS, Area.SITES])
    assert (after[Area.AGENTS] - before[Area.AGENTS], after[Area.SITES] - before[Area.SITES]) == (1, 1)
    tag = poll(site, "/api/lms").headers["ETag"]
    site.clock.advance(61)  # a heartbeat that only moves last_heartbeat: no mark, but the list's ETag ages
    site.heartbeat("s1", [online("a1"), *(online(f"n{i}") for i in range(5))])
    assert revisions([Area.AGENTS, Area.SITES]) == after
    assert poll(site, "/api/lms", tag).status_code == 200
