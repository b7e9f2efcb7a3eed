"""The overview shared through CloudFront's cache (services/overview_feed.py): ``GET /api/overview/feed`` answers
one link per scope, and the link route (no credentials) answers exactly that scope's overview while the link is
intact and unexpired. The attacks first: altered MACs, another scope under one's MAC, moved or past expiries, an
operator's link stretched to another site, a revoked caller's link, another tenant's link; none may answer more
than the holder's own overview, and the tenant's secret shows in no answer and no log line."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from cloud_testkit import FEED_SECRET, Cloud, online, running_cloud, secrets_client
from test_cloud_polling import aws_calls

from chalicelib import container
from chalicelib.adapters.signing_key import SecretsManagerKey
from chalicelib.domain.feed_link import LIVE_PREFIX
from chalicelib.domain.token import Principal, Role
from chalicelib.services.overview_feed import BUCKET_S, INVALID, OverviewFeed


@pytest.fixture
def fleet(site: Cloud) -> Cloud:
    """Sites s1 (agent a1) and s2 (agent b1), an event at each, a viewer and an operator of s1 only."""
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


def feed(cloud: Cloud, role: str = "admin") -> dict[str, Any]:
    answer = cloud.get("/api/overview/feed", role=role)
    assert answer.status_code == 200, answer.json_body
    data: dict[str, Any] = answer.json_body["data"]
    return data


def live(cloud: Cloud, path: str, tag: str | None = None) -> Any:
    """The link as CloudFront forwards it: no Authorization, no cookies, no query."""
    return cloud.request("GET", path, role=None, headers={"If-None-Match": tag} if tag else None)


def parts(path: str) -> list[str]:
    scope, expires, mac = path.removeprefix(LIVE_PREFIX + "/").split("/")
    return [scope, expires, mac]


def link(scope: str, expires: str | int, mac: str) -> str:
    return f"{LIVE_PREFIX}/{scope}/{expires}/{mac}"


def assert_refused(answer: Any) -> None:
    assert answer.status_code == 403, answer.json_body
    assert answer.json_body["error"]["message"] == INVALID  # one answer whatever failed: no oracle
    assert "public" not in answer.headers.get("Cache-Control", "")


def test_every_caller_of_a_scope_shares_one_link_and_gets_its_own_overview(fleet: Cloud) -> None:
    admin, viewer, operator = feed(fleet), feed(fleet, "viewer"), feed(fleet, "s1-operator")
    assert admin["url"] == viewer["url"] and admin["scope"] == "tenant"  # the overview holds no controls
    assert operator["scope"] == "sites.s1" and operator["url"] != admin["url"]
    window = int(fleet.clock.now // BUCKET_S)
    assert admin["refresh_after"] == (window + 1) * BUCKET_S and admin["expires_at"] == (window + 2) * BUCKET_S
    fleet.clock.advance(BUCKET_S - 1 - fleet.clock.now % BUCKET_S)  # later in the same window: the same link
    assert feed(fleet)["url"] == admin["url"]
    for role, given in (("admin", admin), ("s1-operator", operator)):
        shared = live(fleet, given["url"])
        assert shared.status_code == 200
        assert shared.headers["Cache-Control"] == "public, max-age=10"
        assert shared.json_body["data"] == fleet.get("/api/overview", role=role).json_body["data"]
        again = live(fleet, given["url"], shared.headers["ETag"])
        assert again.status_code == 304 and again.headers["Cache-Control"] == "public, max-age=10"
    fleet.clock.advance(2)  # the next window: a new link (the old one still works until it expires)
    assert feed(fleet)["url"] != admin["url"]
    assert live(fleet, admin["url"]).status_code == 200


def test_an_operators_link_shows_its_sites_only(fleet: Cloud) -> None:
    data = live(fleet, feed(fleet, "s1-operator")["url"]).json_body["data"]
    assert [s["site_id"] for s in data["sites"]] == ["s1"]
    assert data["totals"]["agents"] == 1
    assert {e["site_id"] for e in data["events"]} == {"s1"}
    assert "clients" not in data["sync"]  # ClassTop clients belong to no site: tenant-wide callers only
    tenant = live(fleet, feed(fleet)["url"]).json_body["data"]
    assert [s["site_id"] for s in tenant["sites"]] == ["s1", "s2"] and "clients" in tenant["sync"]


def test_altered_macs_are_refused(fleet: Cloud) -> None:
    scope, expires, mac = parts(feed(fleet)["url"])
    flipped = mac[:10] + ("0" if mac[10] != "0" else "1") + mac[11:]
    for bad in (flipped, mac.upper(), mac[:-1], mac + "0", "0" * 64, mac[::-1], "g" + mac[1:]):
        assert_refused(live(fleet, link(scope, expires, bad)))
    assert live(fleet, link(scope, expires, mac)).status_code == 200


def test_a_mac_does_not_carry_over_to_another_scope(fleet: Cloud) -> None:
    _, expires, mac = parts(feed(fleet, "s1-operator")["url"])
    for other in ("tenant", "sites.s2", "sites.s1.s2", "sites", "sites.s1.", "sites.S1", "sites..s1", ".s1"):
        assert_refused(live(fleet, link(other, expires, mac)))
    _, expires, tenant_mac = parts(feed(fleet)["url"])
    assert_refused(live(fleet, link("sites.s1", expires, tenant_mac)))


def test_expired_or_moved_expiries_are_refused(fleet: Cloud) -> None:
    scope, expires, mac = parts(feed(fleet)["url"])
    for moved in (
        int(expires) + BUCKET_S,
        int(expires) - BUCKET_S,
        int(expires) + 1,
        "0" + expires,
        f"{expires}.0",
        "-1",
        "9" * 13,
    ):
        assert_refused(live(fleet, link(scope, moved, mac)))
    fleet.clock.advance(int(expires) - fleet.clock.now - 1)
    assert live(fleet, link(scope, expires, mac)).status_code == 200  # the last second of its life
    fleet.clock.advance(1)
    assert_refused(live(fleet, link(scope, expires, mac)))


def test_a_revoked_callers_link_lasts_until_it_expires_and_no_new_one_is_given(fleet: Cloud) -> None:
    created = fleet.post("/api/tokens", {"name": "leaving", "role": "operator", "site_ids": ["s1"]}).json_body["data"]
    fleet.tokens["leaving"] = created["token"]
    url = feed(fleet, "leaving")["url"]
    assert fleet.delete(f"/api/tokens/{created['token_id']}").status_code == 200
    assert fleet.get("/api/overview/feed", role="leaving").status_code == 401
    assert live(fleet, url).status_code == 200  # docs/security.md: until the link's expiry, at most 2 windows
    fleet.clock.advance(2 * BUCKET_S)
    assert_refused(live(fleet, url))


def test_another_tenants_link_is_refused(fleet: Cloud) -> None:
    key = SecretsManagerKey(FEED_SECRET, secrets_client())  # even with the same secret
    elsewhere = OverviewFeed(key, "othertenant", "test", fleet.clock).link(Principal("x", Role.ADMIN)).path
    assert elsewhere is not None
    assert_refused(live(fleet, elsewhere))
    other_stage = OverviewFeed(key, container.get().settings.tenant, "prod", fleet.clock)
    assert_refused(live(fleet, str(other_stage.link(Principal("x", Role.ADMIN)).path)))


def test_a_bad_link_reads_nothing(fleet: Cloud) -> None:
    scope, expires, mac = parts(feed(fleet)["url"])
    with aws_calls() as made:
        assert_refused(live(fleet, link(scope, expires, "f" * 64)))
        assert_refused(live(fleet, link("sites.s2", expires, mac)))
    assert made == [], made  # the key was read by the feed and kept: no table, no secret read


def test_the_secret_shows_in_no_answer_and_no_log(fleet: Cloud, caplog: pytest.LogCaptureFixture) -> None:
    # every logger at the stage's level (INFO); botocore at DEBUG logs every answer's body, the secret's too
    # (docs/security.md: never DEBUG for botocore in a deployed stage); set before this test reads the secret itself
    # (an earlier test may have left the root logger at DEBUG)
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.INFO, logger="botocore")
    secret = secrets_client().get_secret_value(SecretId=FEED_SECRET)["SecretString"]
    answers = [fleet.get("/api/overview/feed"), fleet.get("/api/overview/feed", role="s1-operator")]
    url = answers[0].json_body["data"]["url"]
    scope, expires, mac = parts(url)
    answers += [live(fleet, url), live(fleet, link(scope, expires, "0" * 64)), live(fleet, link("tenant", 1, mac))]
    for answer in answers:
        text = str(answer.body) + str(answer.headers)
        assert secret not in text and secret[:16] not in text
    assert secret[:16] not in caplog.text


def test_without_a_feed_secret_the_feed_is_unavailable() -> None:
    with running_cloud(feed_secret=None) as cloud:
        cloud.heartbeat("s1", [online("a1")])
        answer = cloud.get("/api/overview/feed")
        assert answer.status_code == 503 and answer.json_body["error"]["code"] == "not_supported"
        assert cloud.get("/api/overview").status_code == 200  # scripts' route unchanged
        assert live(cloud, link("tenant", 1_700_000_100, "0" * 64)).status_code == 503


def test_a_scope_no_link_can_carry_gets_none(fleet: Cloud) -> None:
    """Too many sites for a URL, or a site id outside the id grammar: no link (the dashboard polls /api/overview)."""
    feed_service = container.get().overview_feed
    many = Principal("x", Role.OPERATOR, site_ids=frozenset(f"site-{n:060d}" for n in range(100)))
    odd = Principal("x", Role.OPERATOR, site_ids=frozenset({"s1", "s 2"}))
    assert feed_service.link(many).path is None and feed_service.link(odd).path is None
    assert feed_service.link(Principal("x", Role.OPERATOR, site_ids=frozenset({"s1"}))).path is not None
