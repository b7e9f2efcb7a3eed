"""Local authentication (tokens, roles, bootstrap) and the audit log, on a real SQLite file."""

from __future__ import annotations

import stat

import pytest

from edge.lms.auth import ADMIN_TOKEN_ENV, ADMIN_TOKEN_FILE, Audit, AuthError, Role, Tokens
from edge.lms.auth import tokens as auth
from edge.lms.store import Store


def test_a_token_is_stored_hashed_and_verifies_with_its_role(store: Store) -> None:
    tokens = Tokens(store)
    token_id, token = tokens.create("alice", "operator")
    assert token.startswith("ctl_") and len(token) > 40
    stored = store.query("SELECT token_hash FROM api_tokens WHERE id = ?", (token_id,))[0][0]
    assert token not in stored and stored == auth.hash_token(token)
    principal = tokens.verify(token)
    assert principal is not None and principal.role is Role.OPERATOR and principal.actor == f"alice#{token_id}"
    assert tokens.verify(token + "x") is None
    assert tokens.verify("") is None and tokens.verify(None) is None
    assert tokens.verify("a" * 10_000) is None
    (row,) = tokens.list()
    assert row["last_used_at"] is not None and "token" not in row and "token_hash" not in row


def test_revoking_through_the_service_takes_effect_at_once(store: Store) -> None:
    tokens = Tokens(store)
    token_id, token = tokens.create("bob", Role.ADMIN)
    assert tokens.verify(token) is not None  # now cached
    tokens.revoke(token_id)
    assert tokens.verify(token) is None
    with pytest.raises(AuthError, match="no token with id 999"):
        tokens.revoke(999)


def test_bad_names_and_roles_are_refused_and_nothing_is_stored(store: Store) -> None:
    tokens = Tokens(store)
    with pytest.raises(AuthError, match="unknown role"):
        tokens.create("carol", "root")
    with pytest.raises(AuthError, match="token name"):
        tokens.create("x" * 65, "viewer")
    with pytest.raises(AuthError, match="token name"):
        tokens.create("drop; table", "viewer")
    assert tokens.list() == []
    assert Role.VIEWER < Role.OPERATOR < Role.ADMIN


def test_bootstrap_without_tokens_writes_an_admin_token_file_readable_by_the_owner_only(store: Store) -> None:
    tokens = Tokens(store)
    path = tokens.bootstrap(env={})
    assert path == store.path.parent / ADMIN_TOKEN_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    principal = tokens.verify(path.read_text().strip())
    assert principal is not None and principal.role is Role.ADMIN
    assert tokens.bootstrap(env={}) is None  # tokens exist: nothing more
    assert len(tokens.list()) == 1


def test_bootstrap_from_the_environment_is_idempotent(store: Store) -> None:
    tokens = Tokens(store)
    given = "ctl_from-the-environment-123456"
    env = {ADMIN_TOKEN_ENV: given}
    assert tokens.bootstrap(env=env) is None
    assert tokens.bootstrap(env=env) is None
    assert len(tokens.list()) == 1
    principal = tokens.verify(given)
    assert principal is not None and principal.role is Role.ADMIN
    assert not (store.path.parent / ADMIN_TOKEN_FILE).exists()
    with pytest.raises(AuthError, match="at least"):
        tokens.bootstrap(env={ADMIN_TOKEN_ENV: "short"})


def test_bootstrap_does_not_resurrect_a_revoked_environment_token(store: Store) -> None:
    tokens = Tokens(store)
    given = "ctl_from-the-environment-123456"
    tokens.bootstrap(env={ADMIN_TOKEN_ENV: given})
    tokens.revoke(tokens.list()[0]["id"])
    tokens.bootstrap(env={ADMIN_TOKEN_ENV: given})
    assert tokens.verify(given) is None


def test_audit_records_and_completes_entries_newest_first(store: Store) -> None:
    audit = Audit(store)
    first = audit.record("alice#1", "admin", "command:exec", "agent-1", "pending", {"cmd": "ls"})
    audit.record("bob#2", "operator", "tags:set", "agent-2", "ok")
    audit.complete(first, "succeeded")
    rows = audit.recent()
    assert [r["action"] for r in rows] == ["tags:set", "command:exec"]
    assert rows[1]["result"] == "succeeded" and rows[1]["detail"] == {"cmd": "ls"} and rows[1]["target"] == "agent-1"
    assert [r["actor"] for r in audit.recent(actor="alice#1")] == ["alice#1"]
    assert audit.recent(action="nothing") == []
    assert len(audit.recent(limit=1)) == 1
