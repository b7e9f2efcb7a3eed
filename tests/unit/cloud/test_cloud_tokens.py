"""API tokens (item 12 of the trust review): they expire, are listed by an id that is not the secret (never showing
secrets or hashes), and are revoked by that id — over HTTP (``/api/tokens``) and with ``manage.py token``; an
expired or revoked token is a 401 at once, and creating or revoking one is audited."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib import cli, container
from chalicelib.domain.token import DEFAULT_TOKEN_TTL_S, MAX_TOKEN_TTL_S
from chalicelib.services.tokens import hash_secret
from tests.unit.cloud.cloud_testkit import T0, Cloud, online


def _audit(cloud: Cloud, action: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = cloud.get("/api/audit").json_body["data"]["entries"]
    return [e for e in entries if e["action"] == action]


def _listed(cloud: Cloud) -> dict[str, dict[str, Any]]:
    response = cloud.get("/api/tokens")
    assert response.status_code == 200, response.json_body
    return {t["token_id"]: t for t in response.json_body["data"]["tokens"]}


def test_api_tokens_expire_list_revoke(cloud: Cloud) -> None:
    cloud.heartbeat("s1", [online("a1")])
    created = cloud.post("/api/tokens", {"name": "nightly script", "role": "operator", "site_ids": ["s1"],
                                         "ttl_s": 3600})
    assert created.status_code == 201, created.json_body
    issued = created.json_body["data"]
    secret, token_id = issued["token"], issued["token_id"]
    assert secret.startswith("ctk_") and token_id and token_id not in secret
    assert (issued["name"], issued["role"], issued["site_ids"]) == ("nightly script", "operator", ["s1"])
    assert issued["expires_at"] == T0 + 3600 and issued["created_by"] == "test-admin"
    cloud.tokens["script"] = secret
    assert cloud.get("/api/agents", role="script").status_code == 200

    # listed by id, with what it may do and until when, never with its secret or its hash
    listed = _listed(cloud)
    assert listed[token_id] == {"token_id": token_id, "name": "nightly script", "role": "operator",
                                "site_ids": ["s1"], "created_at": T0, "created_by": "test-admin",
                                "expires_at": T0 + 3600}
    assert {t["name"] for t in listed.values()} >= {"test-admin", "test-operator", "test-viewer"}
    text = json.dumps(listed)
    assert "ctk_" not in text and secret not in text and hash_secret(secret) not in text
    assert "hash" not in text

    # expiry: a 401 at once, the second it passes
    cloud.clock.advance(3599)
    assert cloud.get("/api/agents", role="script").status_code == 200
    cloud.clock.advance(1)
    expired = cloud.get("/api/agents", role="script")
    assert expired.status_code == 401 and "expired" in expired.json_body["error"]["message"]

    # revoking by id: a 401 at once; the id is gone from the list; a second revoke is a 404
    victim = cloud.post("/api/tokens", {"name": "laptop", "role": "viewer"}).json_body["data"]
    assert victim["expires_at"] == cloud.clock.now + DEFAULT_TOKEN_TTL_S
    cloud.tokens["laptop"] = victim["token"]
    assert cloud.get("/api/agents", role="laptop").status_code == 200
    revoked = cloud.delete(f"/api/tokens/{victim['token_id']}")
    assert revoked.status_code == 200 and revoked.json_body["data"] == {"token_id": victim["token_id"],
                                                                        "revoked": True}
    assert cloud.get("/api/agents", role="laptop").status_code == 401
    assert victim["token_id"] not in _listed(cloud)
    assert cloud.delete(f"/api/tokens/{victim['token_id']}").status_code == 404
    assert cloud.delete("/api/tokens/not%20an%20id").status_code == 400

    # creation and revocation are audited (with the id, never the secret)
    made = _audit(cloud, "token.create")
    assert {e["target"] for e in made} >= {f"/api/tokens token_id={token_id}",
                                           f"/api/tokens token_id={victim['token_id']}"}
    assert [e["target"] for e in _audit(cloud, "token.revoke") if e["status"] == 200] == [
        f"/api/tokens/{victim['token_id']}"]
    assert secret not in json.dumps(cloud.get("/api/audit").json_body)


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "x", "role": "root"}, "role"),
    ({"name": "", "role": "viewer"}, "name"),
    ({"name": "x", "role": "viewer", "ttl_s": MAX_TOKEN_TTL_S + 1}, "ttl_s"),
    ({"name": "x", "role": "viewer", "ttl_s": 0}, "ttl_s"),
    ({"name": "x", "role": "viewer", "site_ids": []}, "site_ids"),
    ({"name": "x", "role": "viewer", "site_ids": ["bad id"]}, "site_ids"),
    ({"name": "x", "role": "viewer", "secret": "ctk_mine"}, "secret"),
])
def test_bad_token_requests_are_400_and_create_nothing(cloud: Cloud, body: dict[str, Any], field: str) -> None:
    before = set(_listed(cloud))
    response = cloud.post("/api/tokens", body)
    assert response.status_code == 400 and field in response.json_body["error"]["message"], response.json_body
    assert set(_listed(cloud)) == before


def test_the_longest_lifetime_is_the_maximum(cloud: Cloud) -> None:
    longest = cloud.post("/api/tokens", {"name": "x", "role": "viewer", "ttl_s": MAX_TOKEN_TTL_S})
    assert longest.status_code == 201 and longest.json_body["data"]["expires_at"] == T0 + MAX_TOKEN_TTL_S


def test_token_list_pages(cloud: Cloud) -> None:
    for n in range(4):
        container.get().tokens.create("viewer", f"t{n}")
    seen: list[str] = []
    cursor: str | None = None
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        data = cloud.get(f"/api/tokens{query}").json_body["data"]
        seen += [t["token_id"] for t in data["tokens"]]
        cursor = data["cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 7  # the three of the test kit and four more


def test_manage_lists_creates_and_revokes_tokens(cloud: Cloud, capsys: pytest.CaptureFixture[str]) -> None:
    """``manage.py token create|list|revoke`` against the same tables (in-process; the subprocess run is in
    tests/integration/cloud/test_cloud_cli.py)."""
    assert cli.main(["--json", "token", "create", "--role", "viewer", "--name", "kiosk", "--ttl", "600"]) == 0
    issued = json.loads(capsys.readouterr().out)
    assert issued["token"].startswith("ctk_") and issued["expires_at"] == T0 + 600
    cloud.tokens["kiosk"] = issued["token"]
    assert cloud.get("/api/agents", role="kiosk").status_code == 200

    assert cli.main(["--json", "token", "list"]) == 0
    listed = {t["token_id"]: t for t in json.loads(capsys.readouterr().out)["tokens"]}
    assert listed[issued["token_id"]]["name"] == "kiosk" and "ctk_" not in json.dumps(listed)
    assert cli.main(["token", "list"]) == 0
    table = capsys.readouterr().out
    assert issued["token_id"] in table and "kiosk" in table and "ctk_" not in table

    assert cli.main(["token", "revoke", issued["token_id"]]) == 0
    assert issued["token_id"] in capsys.readouterr().out
    assert cloud.get("/api/agents", role="kiosk").status_code == 401
    assert cli.main(["token", "revoke", issued["token_id"]]) == 2
    assert "unknown token" in capsys.readouterr().err
    assert cli.main(["token", "create", "--role", "viewer", "--name", "x", "--ttl", str(MAX_TOKEN_TTL_S + 1)]) == 2
    assert "ttl" in capsys.readouterr().err
    actions = {(e["action"], e["actor"]) for e in cloud.get("/api/audit").json_body["data"]["entries"]}
    assert {("token.create", "manage.py"), ("token.revoke", "manage.py")} <= actions
