"""Agents' desired settings in device shadows (``GET|PUT /api/agents/{agent_id}/settings``) on moto's iot-data:
desired vs reported vs pending, null removes a key, the LMS's reports, access, validation, and the adapter."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from chalicelib import container
from chalicelib.adapters.shadows import IotShadowStore, ShadowError, ShadowThingMissing
from shared import topics
from shared.messages.shadow import MAX_SHADOW_STATE_BYTES, desired_update, reported_update
from shared.topics import ShadowOp, agent_shadow_name, site_thing_name
from tests.unit.cloud.cloud_testkit import NS, Cloud, online

THING = site_thing_name(NS, "s1")
SHADOW = agent_shadow_name("a1")
PATH = "/api/agents/a1/settings"


def report(settings: dict[str, str | None]) -> None:
    """What the site's LMS does once the agent applied the delta."""
    container.get().shadows.update(THING, SHADOW, reported_update(settings))


def view(cloud: Cloud, role: str = "viewer") -> dict[str, Any]:
    response = cloud.get(PATH, role=role)
    assert response.status_code == 200, response.json_body
    data: dict[str, Any] = response.json_body["data"]
    return data


def test_desired_then_reported_until_nothing_is_pending(site: Cloud) -> None:
    assert view(site) == {"agent_id": "a1", "site_id": "s1", "desired": {}, "reported": {}, "pending": {},
                          "version": 0}  # no shadow yet: empty

    response = site.put(PATH, {"settings": {"volume": 30, "theme": "dark", "muted": True}}, role="operator")
    assert response.status_code == 200, response.json_body
    desired = {"volume": "30", "theme": "dark", "muted": "true"}  # ClassTop strings
    assert response.json_body["data"] == {"agent_id": "a1", "site_id": "s1", "desired": desired, "reported": {},
                                          "pending": desired, "version": 1}
    assert view(site) == response.json_body["data"]

    # the contract: the named shadow agent-a1 of the site's thing holds it, with AWS's delta
    raw = boto3.client("iot-data", region_name="us-east-1").get_thing_shadow(thingName=THING, shadowName=SHADOW)
    document = json.loads(raw["payload"].read())
    assert document["state"]["desired"] == desired and document["state"]["delta"] == desired

    report({"volume": "30", "theme": "light"})
    after = view(site)
    assert after["reported"] == {"volume": "30", "theme": "light"}
    assert after["pending"] == {"theme": "dark", "muted": "true"} and after["version"] == 2

    report({"theme": "dark", "muted": "true"})
    after = view(site)
    assert after["pending"] == {} and after["reported"] == desired and after["version"] == 3


def test_null_removes_a_desired_key(site: Cloud) -> None:
    site.put(PATH, {"settings": {"volume": "30", "theme": "dark"}}, role="operator")
    report({"volume": "30", "theme": "dark"})
    response = site.put(PATH, {"settings": {"theme": None, "lang": "en"}}, role="operator")
    assert response.status_code == 200, response.json_body
    data = response.json_body["data"]
    assert data["desired"] == {"volume": "30", "lang": "en"}
    assert data["reported"] == {"volume": "30", "theme": "dark"}  # the agent keeps what it holds
    assert data["pending"] == {"lang": "en"}
    assert view(site) == data


class RacingStore:
    """Another writer's ``race`` update lands between the service's read and its update, once."""

    def __init__(self, store: Any, race: bytes) -> None:
        self.store, self.race, self.updates = store, race, 0

    def get(self, thing: str, shadow: str) -> dict[str, Any] | None:
        return self.store.get(thing, shadow)  # type: ignore[no-any-return]

    def update(self, thing: str, shadow: str, payload: bytes) -> dict[str, Any]:
        self.updates += 1
        if self.race:
            self.store.update(thing, shadow, self.race)
            self.race = b""
        return self.store.update(thing, shadow, payload)  # type: ignore[no-any-return]


def test_a_write_racing_another_writer_answers_with_the_stored_document(site: Cloud) -> None:
    store = container.get().shadows

    container.configure(shadows=RacingStore(store, reported_update({"volume": "10"})))
    data = site.put(PATH, {"settings": {"volume": "30"}}, role="operator").json_body["data"]
    assert data["desired"] == {"volume": "30"} and data["reported"] == {"volume": "10"}
    assert data["pending"] == {"volume": "30"} and data["version"] == 2


def test_shadow_names_fit_and_writes_are_versioned(site: Cloud) -> None:
    """Issue 11 item 13: an agent id of 64 characters has a valid shadow (AWS: names <= 64); a desired write is
    conditional on the version it read, so a writer racing in between is never overwritten past the limits."""
    longest = "pc-" + "x" * 61
    site.heartbeat("s1", [online(longest)])
    response = site.put(f"/api/agents/{longest}/settings", {"settings": {"volume": "5"}}, role="operator")
    assert response.status_code == 200, response.json_body
    name = agent_shadow_name(longest)
    assert len(name) <= 64 and topics.parse(topics.shadow(THING, ShadowOp.UPDATE, name)).shadow_name == name
    assert container.get().shadows.get(THING, name)["state"]["desired"] == {"volume": "5"}  # type: ignore[index]

    store = container.get().shadows
    assert site.put(PATH, {"settings": {f"a{i}": "1" for i in range(150)}}).status_code == 200
    # another admin adds 40 settings between this write's read and its update: 150 + 40 + 30 > 200
    racing = RacingStore(store, desired_update({f"b{i}": "1" for i in range(40)}))
    container.configure(shadows=racing)
    response = site.put(PATH, {"settings": {f"c{i}": "1" for i in range(30)}})
    assert response.status_code == 400 and "at most 200" in response.json_body["error"]["message"]
    assert racing.updates == 1  # refused by AWS (version), read again, refused by the check: written once
    assert len(view(site)["desired"]) == 190

    # a race that keeps the limits: the write is done again on the new version and keeps both writers' keys
    racing = RacingStore(store, desired_update({"z": "1"}))
    container.configure(shadows=racing)
    response = site.put(PATH, {"settings": {"y": "2"}})
    assert response.status_code == 200 and racing.updates == 2
    assert {"y": "2", "z": "1"}.items() <= response.json_body["data"]["desired"].items()


def test_a_writer_that_always_loses_the_race_gets_409(site: Cloud) -> None:
    store = container.get().shadows
    site.put(PATH, {"settings": {"volume": "1"}})

    class AlwaysRacing(RacingStore):
        def update(self, thing: str, shadow: str, payload: bytes) -> dict[str, Any]:
            self.race = reported_update({"volume": str(self.updates)})
            return super().update(thing, shadow, payload)

    container.configure(shadows=AlwaysRacing(store, b""))
    response = site.put(PATH, {"settings": {"volume": "2"}})
    assert response.status_code == 409 and "retry" in response.json_body["error"]["message"]
    assert view(site)["desired"] == {"volume": "1"}


def test_every_set_is_audited(site: Cloud) -> None:
    site.put(PATH, {"settings": {"volume": "30", "theme_mode": None}}, role="operator")
    site.clock.advance(1)
    site.put(PATH, {"settings": {"volume": "40"}}, role="viewer")  # refused, and recorded
    entries = site.get("/api/audit").json_body["data"]["entries"]
    assert [(e["actor"], e["action"], e["target"], e["status"]) for e in entries] == [
        ("test-viewer", "agent.settings", f"{PATH} keys=volume", 403),
        ("test-operator", "agent.settings", f"{PATH} keys=theme_mode,volume", 200),  # which keys, not values
    ]
    site.get(PATH)
    assert len(site.get("/api/audit").json_body["data"]["entries"]) == 2  # reads are not audited


def test_unknown_agent_is_404_and_bad_id_400(site: Cloud) -> None:
    assert site.get("/api/agents/nope/settings").status_code == 404
    assert site.put("/api/agents/nope/settings", {"settings": {"a": "1"}}).status_code == 404
    assert site.get("/api/agents/bad%20id/settings").status_code == 400


def test_access_viewer_and_site_scope(site: Cloud) -> None:
    assert site.put(PATH, {"settings": {"a": "1"}}, role="viewer").status_code == 403
    assert site.get(PATH, role=None).status_code == 401
    tokens = container.get().tokens
    site.tokens["s2-operator"] = tokens.create("operator", "s2-operator", site_ids=["s2"]).secret
    site.tokens["s1-operator"] = tokens.create("operator", "s1-operator", site_ids=["s1"]).secret
    # an agent of a site the token does not cover is not visible at all (as everywhere else in the API)
    assert site.get(PATH, role="s2-operator").status_code == 404
    assert site.put(PATH, {"settings": {"a": "1"}}, role="s2-operator").status_code == 404
    assert site.put(PATH, {"settings": {"a": "1"}}, role="s1-operator").status_code == 200
    assert view(site)["desired"] == {"a": "1"}


@pytest.mark.parametrize("body, words", [
    ({"settings": {"bad key!": "1"}}, "invalid setting key"),
    ({"settings": {"a": {"nested": 1}}}, "strings, numbers or booleans"),
    ({"settings": {"a": [1]}}, "strings, numbers or booleans"),
    ({"settings": {}}, "settings"),
    ({"settings": "a=1"}, "object"),
    ({"settings": {"a": "1"}, "extra": 1}, "extra"),
    ({}, "settings"),
    ({"settings": {"a": "x" * 8193}}, "8192"),
    ({"settings": {"a": "x" * 5000, "b": "y" * 5000}}, f"{MAX_SHADOW_STATE_BYTES}-byte"),
    ({"settings": {f"k{i}": "1" for i in range(201)}}, "at most 200"),
])
def test_bad_settings_are_400_and_change_nothing(site: Cloud, body: dict[str, Any], words: str) -> None:
    site.put(PATH, {"settings": {"keep": "1"}})
    response = site.put(PATH, body, role="operator")
    assert response.status_code == 400, response.json_body
    assert words in response.json_body["error"]["message"], response.json_body
    assert view(site)["desired"] == {"keep": "1"} and view(site)["version"] == 1


def test_a_shadow_that_would_outgrow_aws_limit_is_400(site: Cloud) -> None:
    assert site.put(PATH, {"settings": {"a": "x" * 4000}}).status_code == 200
    report({"a": "x" * 4000})
    response = site.put(PATH, {"settings": {"b": "y" * 1000}})
    assert response.status_code == 400 and "limit" in response.json_body["error"]["message"]
    assert view(site)["desired"] == {"a": "x" * 4000}
    # removing keys is always possible
    assert site.put(PATH, {"settings": {"a": None}}).json_body["data"]["desired"] == {}


def test_too_many_desired_settings_in_total_is_400(site: Cloud) -> None:
    assert site.put(PATH, {"settings": {f"a{i}": "1" for i in range(150)}}).status_code == 200
    response = site.put(PATH, {"settings": {f"b{i}": "1" for i in range(60)}})
    assert response.status_code == 400 and "at most 200" in response.json_body["error"]["message"]
    assert len(view(site)["desired"]) == 150


def test_site_without_an_iot_thing_is_409_and_reads_empty(site: Cloud) -> None:
    response = site.get("/api/agents/b1/settings")
    assert response.status_code == 200 and response.json_body["data"]["desired"] == {}
    response = site.put("/api/agents/b1/settings", {"settings": {"a": "1"}})
    assert response.status_code == 409 and "enrol" in response.json_body["error"]["message"]


def test_adapter_translates_iot_errors(site: Cloud) -> None:
    store = IotShadowStore(region="us-east-1")
    assert store.get("ct-demo-missing", SHADOW) is None  # no thing
    assert store.get(THING, SHADOW) is None  # thing, no shadow
    with pytest.raises(ShadowThingMissing):
        store.update("ct-demo-missing", SHADOW, b'{"state": {"desired": {"a": "1"}}}')
    with pytest.raises(ShadowError) as refused:
        store.update(THING, SHADOW, b'{"state": {"wanted": {}}}')
    assert refused.value.status == 502 and "InvalidRequestException" in refused.value.message
    document = store.update(THING, SHADOW, b'{"state": {"desired": {"a": "1"}}}')
    assert document["state"] == {"desired": {"a": "1"}} and document["version"] == 1  # what was sent, no delta
    got = store.get(THING, SHADOW)
    assert got is not None and got["state"]["delta"] == {"a": "1"}
