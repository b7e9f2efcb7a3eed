"""Who may be a ClassTop client (edge.lms.legacy.admission): agents' ids never, the site's policy, the bounds,
and the decisions kept across restarts (real SQLite, real registry, real enrolment table)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from edge.lms.agents import AgentRow, AgentRows, Registry
from edge.lms.config import ClassTopSettings
from edge.lms.legacy import Admissions, Approval, Refused
from edge.lms.legacy.admission_rows import ADMISSIONS_TABLE_V8
from edge.lms.schema import MIGRATIONS
from edge.lms.store import Store
from shared.errors import ErrorCode
from tests.fixtures.lms_services import offline_enrolments


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def admissions(store: Store, **settings: Any) -> Admissions:
    registry = Registry(store, presence_timeout_s=30)
    registry.load()
    return Admissions(store, registry, ClassTopSettings(**settings), clock=Clock()).load()


def test_open_policy_approves_at_once_and_approval_keeps_new_clients_pending(store: Store) -> None:
    opened = admissions(store, client_policy="open")
    assert opened.admit("c-open", "10.0.0.5") is Approval.APPROVED
    gated = admissions(store, client_policy="approval")
    assert gated.admit("c-open", "10.0.0.5") is Approval.APPROVED  # known: the decision stands
    assert gated.admit("c-new", "10.0.0.6") is Approval.PENDING
    assert gated.admit("c-new", "10.0.0.6") is Approval.PENDING  # asking again changes nothing
    assert gated.admit("c-unknown", "10.0.0.7", create=False) is None  # a read never makes a client
    assert [a.client_uuid for a in gated.clients(Approval.PENDING)] == ["c-new"]

    gated.seen("c-new", name="Room 7")
    approved = gated.approve("c-new", "admin#1")
    assert (approved.approval, approved.decided_by, approved.name) == (Approval.APPROVED, "admin#1", "Room 7")
    with pytest.raises(Refused) as conflict:
        gated.reject("c-new", "admin#1")
    assert conflict.value.status == 409
    with pytest.raises(Refused) as unknown:
        gated.approve("c-nobody", "admin#1")
    assert unknown.value.status == 404

    assert gated.admit("c-rogue", "10.0.0.66") is Approval.PENDING
    gated.reject("c-rogue", "admin#1")
    with pytest.raises(Refused) as rejected:
        gated.admit("c-rogue", "10.0.0.66")
    assert (rejected.value.status, rejected.value.code) == (403, ErrorCode.FORBIDDEN)

    # the decisions are in SQLite: a restarted LMS knows them
    again = admissions(store, client_policy="approval")
    assert {a.client_uuid: a.approval for a in again.clients()} == {
        "c-open": Approval.APPROVED, "c-new": Approval.APPROVED, "c-rogue": Approval.REJECTED,
    }  # fmt: skip
    assert again.get("c-new") is not None and again.get("c-new").name == "Room 7"  # type: ignore[union-attr]


def test_agent_ids_are_never_classtop_clients(store: Store) -> None:
    """An agent seen on MQTT (a registry row) or only enrolled so far (an ``enrollments`` row, made by enrolment
    itself) is refused whatever the policy; a revoked agent stays an agent's id."""
    AgentRows(store).upsert(AgentRow(agent_id="agent-1", name="pc-1", kind="agent", first_seen=1.0))
    enrolments = offline_enrolments(store)
    token = enrolments.create_token(ttl_s=60, max_uses=2).token
    enrolments.enrol(token, agent_id="pc-7", hostname="pc-7")
    gate = admissions(store, client_policy="open")
    for agent_id in ("agent-1", "pc-7"):
        with pytest.raises(Refused) as refused:
            gate.admit(agent_id, "10.0.0.66")
        assert refused.value.status == 403 and "is an agent of this site" in refused.value.message
        with pytest.raises(Refused):
            gate.admit(agent_id, "10.0.0.66", create=False)
    assert gate.clients() == []

    # a uuid that asked as a ClassTop client and became an agent's id since cannot be approved any more
    gated = admissions(store, client_policy="approval")
    assert gated.admit("pc-9", "10.0.0.9") is Approval.PENDING
    enrolments.enrol(token, agent_id="pc-9", hostname="pc-9")
    with pytest.raises(Refused) as became_agent:
        gated.approve("pc-9", "admin#1")
    assert became_agent.value.status == 409


def test_with_no_agent_enrolled_a_new_client_is_admitted(store: Store) -> None:
    assert admissions(store, client_policy="open").admit("c-1", "10.0.0.5") is Approval.APPROVED


def test_clients_are_bounded_and_a_pending_newcomer_replaces_the_longest_silent_unconnected_one(store: Store) -> None:
    gate = admissions(store, client_policy="approval", max_clients=4, max_pending=2)
    connected = {"p-1"}
    gate.set_connected_check(connected.__contains__)
    gate.admit("p-1", "10.0.0.1")  # connected: kept
    gate.admit("p-2", "10.0.0.2")
    gate.admit("p-3", "10.0.0.3")  # full: p-2 (silent, not connected) makes room
    assert {a.client_uuid for a in gate.clients(Approval.PENDING)} == {"p-1", "p-3"} and gate.evicted == 1
    connected.add("p-3")
    with pytest.raises(Refused) as full:
        gate.admit("p-4", "10.0.0.4")  # every pending one is connected
    assert (full.value.status, full.value.code) == (503, ErrorCode.BUSY)

    gate.approve("p-1", "admin#1")
    gate.approve("p-3", "admin#1")
    gate.admit("p-5", "10.0.0.5")
    gate.admit("p-6", "10.0.0.6")
    with pytest.raises(Refused) as all_full:
        gate.admit("p-7", "10.0.0.7")  # max_clients: pending ones are not replaced by newcomers then
    assert all_full.value.status == 503 and "max_clients" in all_full.value.message
    assert [a.client_uuid for a in admissions(store).clients()] == ["p-1", "p-3", "p-5", "p-6"]


def test_clients_known_before_the_upgrade_stay_approved(tmp_path: Path) -> None:
    """Schema 8 approves the ClassTop clients an LMS already had (WebSocket and HTTP-sync ones), not agents."""
    with Store(tmp_path / "lms.db") as store:
        AgentRows(store).upsert(AgentRow(agent_id="legacy-1", name="legacy-1", kind="legacy", first_seen=5.0))
        AgentRows(store).upsert(AgentRow(agent_id="agent-1", name="pc-1", kind="agent", first_seen=5.0))
        with store.transaction() as conn:
            for uuid, source in (("http-1", None), ("agent-1", None), ("agent-2", "agent")):
                conn.execute("INSERT INTO classtop_clients (client_uuid, registered_at, source) VALUES (?, 6, ?)",
                             (uuid, source))  # fmt: skip
            conn.execute("DELETE FROM classtop_admissions")
    with sqlite3.connect(tmp_path / "lms.db") as db:
        admissions_version = next(m.version for m in MIGRATIONS if ADMISSIONS_TABLE_V8[0] in m.statements)
        db.execute(f"PRAGMA user_version={admissions_version - 1}")
    with Store(tmp_path / "lms.db") as store:
        known = {a.client_uuid: a.approval for a in admissions(store).clients()}
    assert known == {"legacy-1": Approval.APPROVED, "http-1": Approval.APPROVED}
