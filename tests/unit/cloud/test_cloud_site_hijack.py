"""Issue 11 item 1: the seed LMS paths cannot hijack a site or another site's agents.

The attacker is anyone on the internet: ``POST /api/lms/register`` needs no credential (the tenant's ``lms_policy``
admits), so it gets an API key for a site of its own and then heartbeats with it. It must not be able to write while
its site awaits approval, move (or rewrite) an agent of another site, or lock a site's owner out by registering the
site again. Moving an agent between sites is an audited admin action (``POST /api/agents/{id}/move``).
"""

from __future__ import annotations

from typing import Any

from site_keys import csr_pem, ec_key

from chalicelib.models import AgentModel, AuditModel, SiteModel
from tests.unit.cloud.cloud_testkit import Cloud, online, running_cloud

ATTACKER: dict[str, Any] = {"lms_uuid": "evil-lms", "name": "not a school", "host": "203.0.113.9", "port": 8000,
                            "version": "6.6.6"}


def victim_site(cloud: Cloud) -> dict[str, Any]:
    """Site ``s2`` (known from its IoT heartbeats) holds the agent ``pc-b1``; returns the agent as stored."""
    cloud.heartbeat("s2", [online("pc-b1", kind="agent", hostname="b1.school-2.lan", version="1.0.0")])
    agent: dict[str, Any] = cloud.get("/api/agents/pc-b1").json_body["data"]
    assert (agent["site_id"], agent["kind"], agent["hostname"], agent["approval"]) == (
        "s2", "agent", "b1.school-2.lan", "approved")
    return agent


def seed_heartbeat(cloud: Cloud, api_key: str, clients: list[dict[str, str]],
                   lms_uuid: str = ATTACKER["lms_uuid"]) -> Any:
    body = {"lms_uuid": lms_uuid, "client_count": len(clients), "clients": clients}
    return cloud.request("POST", "/api/lms/heartbeat", body, role=None, headers={"Authorization": f"Bearer {api_key}"})


def stolen(name: str = "pwned") -> list[dict[str, str]]:
    return [{"uuid": "pc-b1", "name": name, "status": "online"},
            {"uuid": "fake-1", "name": "fake", "status": "online"}]


def audit_actions() -> list[tuple[str, str, int]]:
    return [(e.action, e.target, int(e.status)) for e in AuditModel.query("2023-11-14")]


def test_unapproved_site_cannot_heartbeat() -> None:
    with running_cloud() as cloud:  # the default lms_policy: approval
        before = victim_site(cloud)
        registered = cloud.post("/api/lms/register", ATTACKER, role=None)
        assert registered.status_code == 200 and registered.json_body["data"]["approval"] == "pending"
        api_key = registered.json_body["data"]["api_key"]

        response = seed_heartbeat(cloud, api_key, stolen())
        assert response.status_code == 403, response.json_body
        assert "not approved" in response.json_body["error"]["message"]
        # nothing written: the victim's agent is as it was, no agent of the attacker exists, the site is untouched
        assert cloud.get("/api/agents/pc-b1").json_body["data"] == before
        assert AgentModel.count("fake-1") == 0
        site = SiteModel.get(ATTACKER["lms_uuid"])
        assert (site.last_heartbeat, site.agent_count) == (0.0, 0)

        # the IoT-rule path refuses a site awaiting approval just the same
        assert cloud.heartbeat(ATTACKER["lms_uuid"], [online("fake-2")])["error"]
        assert AgentModel.count("fake-2") == 0

        # once an admin approves the site, its heartbeats count (for its own agents only)
        assert cloud.post(f"/api/lms/{ATTACKER['lms_uuid']}/approve", {}).status_code == 200
        response = seed_heartbeat(cloud, api_key, stolen())
        assert response.status_code == 200
        assert cloud.get("/api/agents/fake-1").json_body["data"]["site_id"] == ATTACKER["lms_uuid"]
        assert cloud.get("/api/agents/pc-b1").json_body["data"] == before


def test_heartbeat_cannot_move_another_sites_agent() -> None:
    with running_cloud(lms_policy="open") as cloud:  # the attacker's site is approved at once
        before = victim_site(cloud)
        api_key = cloud.post("/api/lms/register", ATTACKER, role=None).json_body["data"]["api_key"]

        response = seed_heartbeat(cloud, api_key, stolen())
        assert response.status_code == 200, response.json_body
        data = response.json_body["data"]
        assert data["agents_written"] == 1 and data["agents_refused"] == ["pc-b1"]
        assert cloud.get("/api/agents/pc-b1").json_body["data"] == before  # site, kind, hostname, status kept
        assert cloud.get("/api/agents/fake-1").json_body["data"]["site_id"] == ATTACKER["lms_uuid"]
        site = cloud.get(f"/api/lms/{ATTACKER['lms_uuid']}").json_body["data"]
        assert site["client_count"] == 1  # the refused agent is not counted as the attacker's

        # the IoT-rule path: a site certificate publishes only on its own topics, but its payload may name any
        # agent id; an enrolled site s3 gets nowhere either
        cloud.clock.advance(30)
        report = cloud.heartbeat("s3", [online("pc-b1", kind="legacy", hostname="owned")])
        assert list(report["agents_refused"]) == ["pc-b1"] and report["agents_written"] == 0
        assert cloud.get("/api/agents/pc-b1").json_body["data"] == before
        # nor does a full heartbeat of another site mark it offline
        cloud.clock.advance(30)
        cloud.heartbeat("s3", [])
        assert cloud.get("/api/agents/pc-b1").json_body["data"]["status"] == "online"
        # its own site still can
        cloud.clock.advance(30)
        cloud.heartbeat("s2", [])
        assert cloud.get("/api/agents/pc-b1").json_body["data"]["status"] == "offline"
        # and even its own site cannot turn it into another kind of agent (a kind never changes once stored)
        cloud.clock.advance(30)
        cloud.heartbeat("s2", [online("pc-b1", kind="legacy")])
        agent = cloud.get("/api/agents/pc-b1").json_body["data"]
        assert (agent["status"], agent["kind"]) == ("online", "agent")


def test_admin_moves_an_agent_between_sites() -> None:
    with running_cloud(lms_policy="open") as cloud:
        victim_site(cloud)
        cloud.heartbeat("s3", [online("pc-c1")])
        for role in ("viewer", "operator"):
            assert cloud.post("/api/agents/pc-b1/move", {"site_id": "s3"}, role=role).status_code == 403
        assert cloud.post("/api/agents/pc-b1/move", {"site_id": "nowhere"}).status_code == 404
        assert cloud.post("/api/agents/nobody/move", {"site_id": "s3"}).status_code == 404
        assert cloud.post("/api/agents/pc-b1/move", {"site_id": "not a site"}).status_code == 400
        assert cloud.post("/api/agents/pc-b1/move", {}).status_code == 400
        assert cloud.get("/api/agents/pc-b1").json_body["data"]["site_id"] == "s2"

        moved = cloud.post("/api/agents/pc-b1/move", {"site_id": "s3"})
        assert moved.status_code == 200, moved.json_body
        agent = moved.json_body["data"]
        # it waits, offline, until its new site reports it; kind, hostname and approval are kept
        assert (agent["site_id"], agent["status"], agent["kind"], agent["approval"]) == (
            "s3", "offline", "agent", "approved")
        assert ("agent.move", "/api/agents/pc-b1/move site_id=s3", 200) in audit_actions()
        assert ("agent.move", "/api/agents/pc-b1/move site_id=s3", 403) in audit_actions()

        # now its old site cannot report it, and its new one can
        cloud.clock.advance(30)
        assert list(cloud.heartbeat("s2", [online("pc-b1")])["agents_refused"]) == ["pc-b1"]
        report = cloud.heartbeat("s3", [online("pc-c1"), online("pc-b1")])
        assert not report["agents_refused"] and report["agents_written"] == 1
        assert cloud.get("/api/agents/pc-b1").json_body["data"]["status"] == "online"
        # a scoped admin cannot move an agent of a site outside its scope, nor into one
        from chalicelib import container
        cloud.tokens["scoped"] = container.get().tokens.create("admin", "s3-admin", site_ids=["s3"]).secret
        cloud.heartbeat("s4", [online("pc-d1")])
        assert cloud.post("/api/agents/pc-d1/move", {"site_id": "s3"}, role="scoped").status_code == 404
        assert cloud.post("/api/agents/pc-b1/move", {"site_id": "s4"}, role="scoped").status_code == 403
        assert cloud.get("/api/agents/pc-b1").json_body["data"]["site_id"] == "s3"


def test_reregister_needs_current_key_or_enrolment_token() -> None:
    with running_cloud(lms_policy="open") as cloud:
        owner = {**ATTACKER, "lms_uuid": "school-5", "name": "School 5"}
        key = cloud.post("/api/lms/register", owner, role=None).json_body["data"]["api_key"]
        assert seed_heartbeat(cloud, key, [], lms_uuid="school-5").status_code == 200

        # anyone re-registering the site without a credential: refused, the owner's key keeps working
        response = cloud.post("/api/lms/register", {**owner, "name": "hijacked"}, role=None)
        assert response.status_code == 409, response.json_body
        assert "current API key" in response.json_body["error"]["message"]
        assert seed_heartbeat(cloud, key, [], lms_uuid="school-5").status_code == 200
        assert cloud.get("/api/lms/school-5").json_body["data"]["name"] == "School 5"
        # a wrong key, or another site's key: 401
        other = cloud.post("/api/lms/register", {**owner, "lms_uuid": "school-6"}, role=None).json_body["data"]
        for wrong in ("ctl_wrong", other["api_key"]):
            response = cloud.request("POST", "/api/lms/register", owner, role=None,
                                     headers={"Authorization": f"Bearer {wrong}"})
            assert response.status_code == 401, wrong
        assert seed_heartbeat(cloud, key, [], lms_uuid="school-5").status_code == 200

        # with its current key the owner re-registers: a new key, the old one stops working
        response = cloud.request("POST", "/api/lms/register", {**owner, "version": "1.1.0"}, role=None,
                                 headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 200, response.json_body
        new_key = response.json_body["data"]["api_key"]
        assert new_key != key
        assert seed_heartbeat(cloud, key, [], lms_uuid="school-5").status_code == 401
        assert seed_heartbeat(cloud, new_key, [], lms_uuid="school-5").status_code == 200
        assert cloud.get("/api/lms/school-5").json_body["data"]["version"] == "1.1.0"

        # a site known only from its heartbeats cannot be claimed without a credential either
        cloud.heartbeat("s7", [online("pc-7")])
        assert cloud.post("/api/lms/register", {**owner, "lms_uuid": "s7"}, role=None).status_code == 409
        assert SiteModel.get("s7").api_key_hash is None

        # an enrolment token re-enrols an existing site only when an admin bound it to that site
        unbound = cloud.post("/api/enrolments", {"name": "any"}).json_body["data"]["token"]
        response = cloud.request("POST", "/api/lms/register", owner, role=None,
                                 headers={"Authorization": f"Bearer {unbound}"})
        assert response.status_code == 409 and "bound to it" in response.json_body["error"]["message"]
        assert seed_heartbeat(cloud, new_key, [], lms_uuid="school-5").status_code == 200
        # one an admin bound to the site re-enrols it (the owner lost its key, say): the old key stops working
        bound = cloud.post("/api/enrolments", {"name": "s5", "site_id": "school-5"}).json_body["data"]["token"]
        response = cloud.request("POST", "/api/lms/register", {**owner, "csr": csr_pem(ec_key())}, role=None,
                                 headers={"Authorization": f"Bearer {bound}"})
        assert response.status_code == 200, response.json_body
        assert response.json_body["data"]["certificate_pem"]
        assert seed_heartbeat(cloud, new_key, [], lms_uuid="school-5").status_code == 401
        assert seed_heartbeat(cloud, response.json_body["data"]["api_key"], [], lms_uuid="school-5").status_code \
            == 200
