"""Retiring an agent on the LMS without a broker (enrolment off): the archive, the registry, refusals, and the
cloud's retirement message. With a real broker and agent processes: tests/integration/enrollment/
test_agent_retirement.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.lms.agents import AgentRow, AgentRows, Groups, Registry
from edge.lms.agents.retirement import AgentRetirement, RetirementError
from edge.lms.auth import Audit
from edge.lms.cloud.agent_retirements import CloudRetirements
from edge.lms.enrolment import EnrolmentError
from edge.lms.store import Store
from shared.messages import AgentRetire


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "lms.db").open()


def test_retiring_moves_the_rows_to_the_archive_and_the_registry_forgets(store: Store) -> None:
    AgentRows(store).upsert(AgentRow("pc-1", "pc-1", first_seen=1.0, hostname="pc-1"))
    AgentRows(store).upsert(AgentRow("pc-2", "pc-2", first_seen=1.0))
    registry = Registry(store, presence_timeout_s=60)
    registry.load()
    Groups(store, registry).set_tags("pc-1", ["lab"])
    retirement = AgentRetirement(store, registry, enrolments=None, queue=None, site=None, clock=lambda: 100.0)

    done = retirement.retire("pc-1", by="admin#1", reason="scrapped")
    assert (done.credentials_revoked, done.commands_cancelled, done.retired_at) == (False, 0, 100.0)
    assert registry.get("pc-1") is None and registry.is_retired("pc-1") and registry.get("pc-2") is not None
    assert store.count("clients", "uuid = ?", ("pc-1",)) == 0 and store.count("agent_tags") == 0
    registry.touch("pc-1")  # a late command response of the retired agent
    assert registry.get("pc-1") is None and store.count("clients", "uuid = ?", ("pc-1",)) == 0
    [entry] = retirement.entries("pc-1")
    assert entry["record"]["agent"]["hostname"] == "pc-1" and entry["record"]["tags"] == ["lab"]
    assert (entry["retired_by"], entry["reason"]) == ("admin#1", "scrapped")

    # after a restart the registry still drops the retired id
    again = Registry(store, presence_timeout_s=60)
    again.load(retired=retirement.retired_ids())
    assert again.is_retired("pc-1") and again.get("pc-1") is None


@pytest.mark.parametrize(("agent_id", "reason", "status"), [
    ("pc-9", None, 404), ("../x", None, 422), ("pc-1", "x" * 201, 422),
])
def test_refusals_change_nothing(store: Store, agent_id: str, reason: str | None, status: int) -> None:
    AgentRows(store).upsert(AgentRow("pc-1", "pc-1", first_seen=1.0))
    registry = Registry(store, presence_timeout_s=60)
    registry.load()
    retirement = AgentRetirement(store, registry, enrolments=None, queue=None, site=None)
    with pytest.raises(RetirementError) as refused:
        retirement.retire(agent_id, by="admin", reason=reason)
    assert refused.value.status == status
    assert registry.get("pc-1") is not None and not registry.is_retired(agent_id)
    assert retirement.entries() == []


def test_a_classtop_client_is_not_retired_as_an_agent(store: Store) -> None:
    AgentRows(store).upsert(AgentRow("c-1", "c-1", kind="legacy", first_seen=1.0))
    registry = Registry(store, presence_timeout_s=60)
    registry.load()
    with pytest.raises(RetirementError) as refused:
        AgentRetirement(store, registry, enrolments=None, queue=None, site=None).retire("c-1", by="admin")
    assert refused.value.status == 409


def test_the_clouds_message_retires_and_is_audited_and_a_bad_one_is_dropped(store: Store) -> None:
    AgentRows(store).upsert(AgentRow("pc-1", "pc-1", first_seen=1.0))
    registry = Registry(store, presence_timeout_s=60)
    registry.load()
    handler = CloudRetirements(AgentRetirement(store, registry, enrolments=None, queue=None, site=None), Audit(store))
    handler.handle("t", b'{"v": 1, "type": "agent_retire", "agent_id": "pc-1"}')  # no "by": dropped
    assert handler.refused == 1 and registry.get("pc-1") is not None
    message = AgentRetire(agent_id="pc-1", by="district admin", timestamp=1.0)
    assert handler.process(message) is True
    assert handler.process(message) is False  # retired already: refused, audited
    audit = [(e["actor"], e["target"], e["result"]) for e in Audit(store).recent(action="agent:retire")]
    assert sorted(audit) == [
        ("cloud:district admin", "pc-1", "ok"),
        ("cloud:district admin", "pc-1", "refused: agent 'pc-1' is retired already"),
    ]



class BrokerAway:
    """Enrolments whose broker does not answer (the revocation fails)."""

    def revoke(self, agent_id: str) -> None:
        raise EnrolmentError("the site broker is unavailable", status=503)


def test_a_broker_that_cannot_revoke_leaves_the_agent_as_it_was(store: Store) -> None:
    AgentRows(store).upsert(AgentRow("pc-1", "pc-1", first_seen=1.0, hostname="room"))
    registry = Registry(store, presence_timeout_s=60)
    registry.load()
    retirement = AgentRetirement(store, registry, enrolments=BrokerAway(),  # type: ignore[arg-type]
                                 queue=None, site=None)  # fmt: skip
    with pytest.raises(RetirementError) as refused:
        retirement.retire("pc-1", by="admin")
    assert refused.value.status == 503
    view = registry.get("pc-1")
    assert view is not None and view.hostname == "room" and not registry.is_retired("pc-1")
    assert retirement.entries() == [] and store.count("clients") == 1
