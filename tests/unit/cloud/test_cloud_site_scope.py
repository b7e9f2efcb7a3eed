"""Item 3 of the trust review: an admin token scoped to some sites acts only inside them. The whole
route x role x inside/outside matrix is ``test_scope_matrix`` in ``test_cloud_role_matrix.py``."""

from __future__ import annotations

from chalicelib import container
from chalicelib.domain.token import SecretKind
from chalicelib.models import TokenModel
from tests.unit.cloud.cloud_testkit import Cloud, online


def test_site_scoped_admin_stays_in_scope(cloud: Cloud) -> None:
    """An admin token scoped to site s1 cannot take over, delete or approve site s2, read the tenant's audit log,
    manage tokens or ClassTop clients; inside s1 it is a full admin."""
    cloud.heartbeat("s1", [online("a1")])
    cloud.heartbeat("s2", [online("b1")])
    cloud.post("/api/clients/register", {"uuid": "c1", "name": "", "api_url": ""}, role=None)
    cloud.tokens["s1-admin"] = container.get().tokens.create("admin", "s1 admin", site_ids=["s1"]).secret
    client_before = cloud.get("/api/clients/c1").json_body["data"]

    # an enrolment token for s2 would let its holder re-enrol s2 (revoking s2's certificate): a takeover
    takeover = cloud.post("/api/enrolments", {"name": "mine now", "site_id": "s2"}, role="s1-admin")
    assert takeover.status_code == 403, takeover.json_body
    assert "s2" in takeover.json_body["error"]["message"]
    assert cloud.post("/api/enrolments", {"name": "any site"}, role="s1-admin").status_code == 403
    assert cloud.delete("/api/lms/s2", role="s1-admin").status_code == 404
    assert cloud.post("/api/lms/s2/approve", {}, role="s1-admin").status_code == 404
    assert cloud.post("/api/agents/b1/reject", {}, role="s1-admin").status_code == 404
    # moving an agent: neither one of s2's agents in, nor one of its own agents out to s2
    assert cloud.post("/api/agents/b1/move", {"site_id": "s1"}, role="s1-admin").status_code == 404
    assert cloud.post("/api/agents/a1/move", {"site_id": "s2"}, role="s1-admin").status_code == 403
    assert cloud.get("/api/agents/a1").json_body["data"]["site_id"] == "s1"
    assert cloud.get("/api/agents/b1").json_body["data"]["site_id"] == "s2"
    for method, path, body in (("GET", "/api/audit", None), ("GET", "/api/tokens", None),
                               ("POST", "/api/tokens", {"name": "everything", "role": "admin"}),
                               ("GET", "/api/clients", None), ("POST", "/api/clients/c1/reject", {})):
        refused = cloud.request(method, path, body, role="s1-admin")
        assert refused.status_code == 403, (method, path, refused.json_body)
    enrolments = [t for t in TokenModel.scan() if t.kind == SecretKind.ENROLMENT.value]  # test-only inspection
    assert enrolments == []
    assert cloud.get("/api/lms/s2").status_code == 200
    assert cloud.get("/api/clients/c1").json_body["data"] == client_before

    # inside its own site it is an admin
    own = cloud.post("/api/enrolments", {"name": "re-enrol s1", "site_id": "s1"}, role="s1-admin")
    assert own.status_code == 201 and own.json_body["data"]["site_id"] == "s1"
    assert cloud.post("/api/agents/a1/reject", {}, role="s1-admin").status_code == 200
    assert cloud.delete("/api/lms/s1", role="s1-admin").status_code == 200
