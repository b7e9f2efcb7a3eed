"""The overview the dashboard polls straight from S3 (services/overview_feed.py): ``GET /api/overview/feed`` answers
a presigned GET URL of the caller's own scope's object, written at once for a new scope and then by the minute's
pass only when it changed. The attacks first: an operator of one site asking for another scope, site ids that would
play path tricks, a URL's lifetime, a revoked caller; then the writes (on change only), the scopes' activity and
its lapse, and the 503 of a stage without the bucket."""

from __future__ import annotations

import gzip
import json
import re
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import requests
from test_cloud_polling import aws_calls

from chalicelib import container
from chalicelib.domain.token import Principal, Role
from chalicelib.handlers.alert_schedules import evaluate_alerts
from chalicelib.repositories.overview_scope import OverviewScopeRepository
from chalicelib.services.overview_feed import (
    ACTIVE_S,
    CACHE_CONTROL,
    LINK_S,
    REFRESH_BEFORE_S,
    REWRITE_S,
    object_key,
    scope_key,
)
from tests.unit.cloud.cloud_testkit import OVERVIEW_BUCKET, Cloud, fetch_object, online, running_cloud, s3_client

_KEY_RE = re.compile(r"overview/v1/[0-9a-f]{40}\.json")


@pytest.fixture
def fleet(site: Cloud) -> Cloud:
    """Sites s1 (agent a1) and s2 (agent b1), an event at each, an operator of s1 only."""
    for site_id, agent in (("s1", "a1"), ("s2", "b1")):
        site.invoke(
            "site_events",
            {
                "type": "site_events",
                "v": 1,
                "site_id": site_id,
                "events": [
                    {
                        "agent_id": agent,
                        "event": {
                            "type": "event",
                            "v": 1,
                            "kind": "camera.offline",
                            "severity": "warning",
                            "message": f"camera of {site_id} lost",
                            "timestamp": site.clock.now,
                        },
                    }
                ],
            },
        )
    site.tokens["s1-operator"] = container.get().tokens.create("operator", "s1 operator", site_ids=["s1"]).secret
    return site


def feed(cloud: Cloud, role: str = "admin", query: str = "") -> dict[str, Any]:
    answer = cloud.get("/api/overview/feed" + query, role=role)
    assert answer.status_code == 200, answer.json_body
    data: dict[str, Any] = answer.json_body["data"]
    return data


def key_of(url: str) -> str:
    return unquote(urlsplit(url).path).removeprefix(f"/{OVERVIEW_BUCKET}").lstrip("/")


def read(url: str) -> Any:
    """What the dashboard's fetch gets from the URL (gzip decoded), with the object's headers checked."""
    answer = requests.get(url, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Encoding"] == "gzip" and answer.headers["Cache-Control"] == CACHE_CONTROL
    assert answer.json() == fetch_object(url)
    return answer.json()


def stored(scope: str) -> dict[str, Any]:
    head = s3_client().get_object(Bucket=OVERVIEW_BUCKET, Key=object_key(scope_key(scope)))
    return {"etag": head["ETag"], "body": json.loads(gzip.decompress(head["Body"].read()))}


def run_pass(cloud: Cloud) -> dict[str, Any]:
    """The minute's schedule (``evaluate_alerts``), as its Lambda runs it."""
    result: dict[str, Any] = evaluate_alerts({})["overview_objects"]
    return result


# ------------------------------------------------------------------ attacks


def test_an_operator_gets_a_url_of_its_own_scope_only(fleet: Cloud) -> None:
    mine = feed(fleet, "s1-operator")
    assert mine["scope"] == "sites.s1" and key_of(mine["url"]) == object_key(scope_key("sites.s1"))
    # no parameter chooses the scope: whatever the query says, the caller's own
    for query in ("?scope=tenant", "?scope=sites.s2", "?key=" + scope_key("tenant")):
        assert key_of(feed(fleet, "s1-operator", query)["url"]) == key_of(mine["url"])
    data = read(mine["url"])
    assert [s["site_id"] for s in data["sites"]] == ["s1"] and data["totals"]["agents"] == 1
    assert {e["site_id"] for e in data["events"]} == {"s1"}
    assert "clients" not in data["sync"]  # ClassTop clients belong to no site: tenant-wide callers only
    tenant = feed(fleet)
    assert tenant["scope"] == "tenant" and key_of(tenant["url"]) != key_of(mine["url"])
    assert [s["site_id"] for s in read(tenant["url"])["sites"]] == ["s1", "s2"]
    assert key_of(feed(fleet, "viewer")["url"]) == key_of(tenant["url"])  # the overview holds no controls


def test_a_url_is_bound_to_its_key_and_lives_at_most_link_s(fleet: Cloud) -> None:
    data = feed(fleet, "s1-operator")
    query = parse_qs(urlsplit(data["url"]).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"] and query["X-Amz-SignedHeaders"] == ["host"]
    assert query["X-Amz-Expires"] == [str(LINK_S)]  # SigV4 signs the path (the key) and the expiry
    assert data["expires_at"] == int(fleet.clock.now) + LINK_S
    assert data["refresh_after"] == data["expires_at"] - REFRESH_BEFORE_S
    assert set(query) == {
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Security-Token",
        "X-Amz-Signature",
    } - (set() if "X-Amz-Security-Token" in query else {"X-Amz-Security-Token"})


@pytest.mark.parametrize("scope", ["tenant", "sites.s1", "sites.../tenant", "sites.a/b.c", "sites.%2e%2e", "x" * 5000])
def test_no_scope_text_reaches_the_object_key(scope: str) -> None:
    assert _KEY_RE.fullmatch(object_key(scope_key(scope)))


def test_a_scope_outside_the_id_grammar_or_too_long_gets_no_url(fleet: Cloud) -> None:
    service = container.get().overview_feed
    many = Principal("x", Role.OPERATOR, site_ids=frozenset(f"site-{n:060d}" for n in range(100)))
    odd = Principal("x", Role.OPERATOR, site_ids=frozenset({"s1", "../tenant"}))
    with aws_calls() as made:
        assert service.link(many).url is None and service.link(odd).url is None
    assert made == []  # nothing recorded, nothing written
    assert service.link(Principal("x", Role.OPERATOR, site_ids=frozenset({"s1"}))).url is not None


def test_a_revoked_caller_gets_no_url_and_anonymous_callers_none(fleet: Cloud) -> None:
    created = fleet.post("/api/tokens", {"name": "leaving", "role": "operator", "site_ids": ["s1"]}).json_body["data"]
    fleet.tokens["leaving"] = created["token"]
    assert feed(fleet, "leaving")["url"]
    assert fleet.delete(f"/api/tokens/{created['token_id']}").status_code == 200
    assert fleet.get("/api/overview/feed", role="leaving").status_code == 401
    assert fleet.get("/api/overview/feed", role=None).status_code == 401


# ------------------------------------------------------------------ writes and activity


def test_a_new_scope_is_written_at_once_and_then_only_on_change(fleet: Cloud) -> None:
    url = feed(fleet)["url"]
    first = stored("tenant")
    assert read(url) == first["body"] and first["body"]["totals"]["online"] == 2
    assert "heartbeat_age_s" not in first["body"]["sites"][0]  # ages move with the clock: the page computes them
    fleet.clock.advance(60)
    assert run_pass(fleet)["written"] == 0  # nothing changed but the clock
    assert stored("tenant")["etag"] == first["etag"]
    fleet.heartbeat("s1", [online("a1"), online("a2")])
    fleet.clock.advance(60)
    assert run_pass(fleet) == {"scopes": 1, "written": 1, "dropped": 0, "failed": 0}
    second = stored("tenant")
    assert second["etag"] != first["etag"] and second["body"]["totals"]["online"] == 3
    assert second["body"]["generated_at"] == fleet.clock.now and second["body"]["refresh_s"] == 60
    for _ in range(3):  # s2 silent past WATCH_AFTER_S: its exact last heartbeat shows once, then nothing moves
        fleet.clock.advance(60)
        if run_pass(fleet)["written"] == 0:
            break
    settled = stored("tenant")["etag"]
    fleet.clock.advance(60)
    assert run_pass(fleet)["written"] == 0 and stored("tenant")["etag"] == settled
    # an unmodified object answers 304 to If-None-Match (what the dashboard sends)
    with pytest.raises(Exception, match="304"):
        s3_client().get_object(Bucket=OVERVIEW_BUCKET, Key=object_key(scope_key("tenant")), IfNoneMatch=settled)


def test_an_unchanged_object_is_written_again_after_rewrite_s(fleet: Cloud) -> None:
    feed(fleet)
    key = scope_key("tenant")
    entry = OverviewScopeRepository().read()[key]
    fleet.clock.advance(60)
    assert run_pass(fleet)["written"] == 0
    OverviewScopeRepository().written(key, entry.digest, fleet.clock.now - REWRITE_S)  # as if written long ago
    assert run_pass(fleet)["written"] == 1
    assert run_pass(fleet)["written"] == 0


def test_a_scope_lapses_without_feed_requests_and_comes_back_at_once(fleet: Cloud) -> None:
    feed(fleet, "s1-operator")
    with aws_calls() as made:
        feed(fleet, "s1-operator")  # active for long enough: one read, no write
    assert "UpdateItem" not in made and "PutObject" not in made, made
    fleet.clock.advance(ACTIVE_S - 1)
    assert run_pass(fleet)["scopes"] == 1
    fleet.heartbeat("s1", [online("a1"), online("a2")])
    fleet.clock.advance(2)
    assert run_pass(fleet) == {"scopes": 1, "written": 0, "dropped": 1, "failed": 0}  # nobody asked: dropped
    assert run_pass(fleet)["scopes"] == 0
    assert stored("sites.s1")["body"]["totals"]["online"] == 1  # left as it was
    url = feed(fleet, "s1-operator")["url"]  # asked again: written at once, current
    assert read(url)["totals"]["online"] == 2


def test_a_feed_request_moves_the_scopes_activity_on(fleet: Cloud) -> None:
    feed(fleet)
    for _ in range(6):  # an admin asking for its next URL every LINK_S - REFRESH_BEFORE_S keeps it active
        fleet.clock.advance(LINK_S - REFRESH_BEFORE_S)
        feed(fleet)
        assert run_pass(fleet)["dropped"] == 0


def test_without_an_overview_bucket_the_feed_is_unavailable_and_the_pass_skips_it() -> None:
    with running_cloud(overview_bucket=None) as cloud:
        cloud.heartbeat("s1", [online("a1")])
        answer = cloud.get("/api/overview/feed")
        assert answer.status_code == 503 and answer.json_body["error"]["code"] == "not_supported"
        assert cloud.get("/api/overview").status_code == 200  # scripts' route unchanged
        assert run_pass(cloud) == {"scopes": 0, "written": 0, "dropped": 0, "failed": 0}
