"""Agent enrolment tokens of the LMS: their own prefix (``cta_``), the ``cte_`` tokens an LMS made before still
working until they expire (they are found by their hash), and the tokens' paths in both spellings (real SQLite,
the real API in-process; the broker side is a stand-in)."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from edge.lms.api import create_app
from edge.lms.enrolment import TOKEN_PREFIX, EnrolmentError
from edge.lms.store import Store
from tests.fixtures.lms_services import offline_enrolments, offline_services


def old_token(store: Store, token: str, *, expires_at: float) -> None:
    """A token as an LMS stored it before agent tokens had their own prefix: only its SHA-256."""
    digest = hashlib.sha256(token.encode()).hexdigest()
    with store.transaction() as conn:
        conn.execute("INSERT INTO enrollment_tokens (token_hash, note, created_at, created_by, expires_at, max_uses) "
                     "VALUES (?, 'before issue 13', ?, 'admin#1', ?, 5)", (digest, time.time() - 60, expires_at))


def test_agent_enrolment_tokens_have_their_own_prefix(store: Store) -> None:
    service = offline_enrolments(store)
    new = service.create_token(ttl_s=600, max_uses=1)
    assert TOKEN_PREFIX == "cta_" and new.token.startswith("cta_")
    assert service.enrol(new.token, agent_id="pc-1", hostname="pc-1").agent_id == "pc-1"


def test_the_cte_tokens_an_lms_made_before_keep_working_until_they_expire(store: Store) -> None:
    old_token(store, "cte_made-before-the-prefix-changed-0123456789", expires_at=time.time() + 3600)
    old_token(store, "cte_made-before-and-expired-since-0123456789", expires_at=time.time() - 1)
    service = offline_enrolments(store)
    enrolled = service.enrol("cte_made-before-the-prefix-changed-0123456789", agent_id="pc-2", hostname="pc-2")
    assert enrolled.agent_id == "pc-2" and [t["uses"] for t in service.tokens()] == [1, 0]
    with pytest.raises(EnrolmentError) as expired:
        service.enrol("cte_made-before-and-expired-since-0123456789", agent_id="pc-3", hostname="pc-3")
    assert expired.value.status == 403
    with pytest.raises(EnrolmentError) as unknown:
        service.enrol("cte_never-made-by-this-lms-0123456789", agent_id="pc-4", hostname="pc-4")
    assert unknown.value.status == 401


def test_the_token_paths_answer_in_both_spellings(store: Store, tmp_path: Path) -> None:
    services = offline_services(store, tmp_path)
    admin = {"Authorization": f"Bearer {services.tokens.create('admin', 'admin')[1]}"}
    with TestClient(create_app(services, enrolments=offline_enrolments(store))) as http:
        made = [http.post(path, json={"max_uses": 2, "note": path}, headers=admin)
                for path in ("/api/enrolment-tokens", "/api/enrollment-tokens")]  # fmt: skip
        assert [r.status_code for r in made] == [201, 201]
        assert all(r.json()["data"]["token"].startswith("cta_") for r in made)
        for path in ("/api/enrolment-tokens", "/api/enrollment-tokens"):
            listing = http.get(path, headers=admin)
            assert listing.status_code == 200
            assert [t["note"] for t in listing.json()["data"]["tokens"]] == [
                "/api/enrolment-tokens", "/api/enrollment-tokens"]
            assert http.get(path).status_code == 401
