"""``edge.lms.enrolment.Enrolments`` with a real SQLite file and a real dynsec broker: token rules and
"nothing half-written" on every failure."""

from __future__ import annotations

import pytest

from edge.lms.enrolment import BrokerAddress, BrokerCredentials, EnrolmentError, Enrolments
from edge.lms.legacy import is_classtop_client
from edge.lms.store import Store
from tests.fixtures.brokers import ConnectRefused
from tests.fixtures.clock import Clock
from tests.integration.enrollment.conftest import DynsecBroker

pytestmark = pytest.mark.integration


@pytest.fixture
def clock() -> Clock:
    return Clock(1_000_000.0)


@pytest.fixture
def enrolments(store: Store, credentials: BrokerCredentials, dynsec_broker: DynsecBroker, clock: Clock) -> Enrolments:
    return service(store, credentials, dynsec_broker, clock)


def service(store: Store, credentials: BrokerCredentials, dynsec_broker: DynsecBroker, clock: Clock) -> Enrolments:
    return Enrolments(store, credentials, BrokerAddress(dynsec_broker.host, dynsec_broker.port), clock=clock,
                      is_classtop_client=lambda agent_id: is_classtop_client(store, agent_id))  # fmt: skip


def _uses(enrolments: Enrolments) -> list[int]:
    return [t["uses"] for t in enrolments.tokens()]


def test_enrol_connects_and_reenrolment_rotates(enrolments: Enrolments, dynsec_broker: DynsecBroker) -> None:
    token = enrolments.create_token(ttl_s=3600, max_uses=2).token
    first = enrolments.enrol(token, agent_id="pc-101", hostname="room-101")
    assert (first.agent_id, first.username, first.rotated) == ("pc-101", "pc-101", False)
    assert (first.broker.host, first.broker.port) == (dynsec_broker.host, dynsec_broker.port)
    dynsec_broker.client("pc-101", first.password, client_id="pc-101")
    second = enrolments.enrol(token, agent_id="pc-101", hostname="room-101")
    assert second.rotated and second.password != first.password
    with pytest.raises(ConnectRefused):
        dynsec_broker.client("pc-101", first.password, client_id="pc-101")
    dynsec_broker.client("pc-101", second.password, client_id="pc-101")
    assert [e["agent_id"] for e in enrolments.enrolments()] == ["pc-101"]


def test_an_agent_id_is_generated_when_absent(enrolments: Enrolments, dynsec_broker: DynsecBroker) -> None:
    token = enrolments.create_token(ttl_s=60, max_uses=1).token
    result = enrolments.enrol(token, agent_id=None, hostname="somewhere")
    assert result.agent_id.startswith("pc-")
    dynsec_broker.client(result.username, result.password, client_id=result.agent_id)


def test_the_token_is_stored_hashed(enrolments: Enrolments, store: Store) -> None:
    token = enrolments.create_token(ttl_s=60, max_uses=1).token
    dump = "\n".join(store.conn.iterdump())
    assert token not in dump


@pytest.mark.parametrize("token", ["", "nonsense", "cte_" + "A" * 43, "cte_" + "x" * 300])
def test_an_unknown_token_is_401(enrolments: Enrolments, token: str) -> None:
    enrolments.create_token(ttl_s=60, max_uses=1)
    with pytest.raises(EnrolmentError) as refused:
        enrolments.enrol(token, agent_id="pc-1", hostname="h")
    assert refused.value.status == 401
    assert _uses(enrolments) == [0]
    assert enrolments.enrolments() == []


def test_an_expired_token_is_403(enrolments: Enrolments, clock: Clock, credentials: BrokerCredentials) -> None:
    token = enrolments.create_token(ttl_s=60, max_uses=5).token
    clock.now += 60
    with pytest.raises(EnrolmentError) as refused:
        enrolments.enrol(token, agent_id="pc-1", hostname="h")
    assert refused.value.status == 403 and "expired" in refused.value.message
    assert _uses(enrolments) == [0] and enrolments.enrolments() == [] and credentials.list() == []


def test_a_used_up_token_is_403_and_the_first_enrolment_stands(
    enrolments: Enrolments, dynsec_broker: DynsecBroker
) -> None:
    token = enrolments.create_token(ttl_s=60, max_uses=1).token
    first = enrolments.enrol(token, agent_id="pc-1", hostname="h")
    with pytest.raises(EnrolmentError) as refused:
        enrolments.enrol(token, agent_id="pc-2", hostname="h2")
    assert refused.value.status == 403 and "used up" in refused.value.message
    assert _uses(enrolments) == [1]
    assert [e["agent_id"] for e in enrolments.enrolments()] == ["pc-1"]
    dynsec_broker.client("pc-1", first.password, client_id="pc-1")


def test_a_reserved_agent_id_is_422_and_costs_no_use(enrolments: Enrolments, dynsec_broker: DynsecBroker) -> None:
    token = enrolments.create_token(ttl_s=60, max_uses=1).token
    with pytest.raises(EnrolmentError) as refused:
        enrolments.enrol(token, agent_id="lms", hostname="h")
    assert refused.value.status == 422
    assert _uses(enrolments) == [0]
    dynsec_broker.client("lms", client_id="lms")  # the LMS's own client is untouched


@pytest.mark.parametrize("table", ["clients", "classtop_admissions"])
def test_a_classtop_clients_uuid_cannot_become_an_agent(
    enrolments: Enrolments, store: Store, dynsec_broker: DynsecBroker, table: str
) -> None:
    """The uuid of an approved ClassTop client cannot become an agent's id (the agent's MQTT traffic would be
    dropped as the client's): enrolment refuses it, costs no use, issues nothing. A client still pending — which
    any LAN host can ask to be — does not block an enrolment (it can no longer be approved instead)."""
    uuid = "6f1c1a57-8f59-4a53-9c38-0e5a1d2a0b3c"
    with store.transaction() as conn:
        if table == "clients":
            conn.execute("INSERT INTO clients (uuid, name, kind, first_seen) VALUES (?, '', 'legacy', 1.0)", (uuid,))
        else:
            conn.execute("INSERT INTO classtop_admissions (client_uuid, approval, name, first_seen, last_seen) "
                         "VALUES (?, 'approved', '', 1.0, 1.0), ('pending-one', 'pending', '', 1.0, 1.0)", (uuid,))
    token = enrolments.create_token(ttl_s=60, max_uses=1).token
    with pytest.raises(EnrolmentError) as refused:
        enrolments.enrol(token, agent_id=uuid, hostname="h")
    assert refused.value.status == 409 and "ClassTop client" in refused.value.message
    assert _uses(enrolments) == [0] and enrolments.enrolments() == []
    with pytest.raises(ConnectRefused):
        dynsec_broker.client(uuid, "anything", client_id=uuid)
    if table == "classtop_admissions":
        assert enrolments.enrol(token, agent_id="pending-one", hostname="h").agent_id == "pending-one"


def test_a_broker_failure_gives_the_use_back_and_writes_nothing(
    store: Store, dynsec_broker: DynsecBroker, clock: Clock
) -> None:
    credentials = dynsec_broker.credentials(timeout_s=1.0)
    try:
        enrolments = service(store, credentials, dynsec_broker, clock)
        token = enrolments.create_token(ttl_s=60, max_uses=1).token
        dynsec_broker.process.stop()
        with pytest.raises(EnrolmentError) as refused:
            enrolments.enrol(token, agent_id="pc-1", hostname="h")
        assert refused.value.status == 503
        assert _uses(enrolments) == [0] and enrolments.enrolments() == []
        dynsec_broker.process.start()  # same port: the service's connection comes back, the token still works
        assert credentials.wait_connected(10.0)
        result = enrolments.enrol(token, agent_id="pc-1", hostname="h")
        dynsec_broker.client("pc-1", result.password, client_id="pc-1")
    finally:
        credentials.stop()


def test_revoke(enrolments: Enrolments, credentials: BrokerCredentials) -> None:
    token = enrolments.create_token(ttl_s=60, max_uses=1).token
    enrolments.enrol(token, agent_id="pc-1", hostname="h")
    enrolments.revoke("pc-1")
    assert credentials.list() == []
    assert enrolments.enrolments()[0]["revoked_at"] is not None
    with pytest.raises(EnrolmentError) as refused:
        enrolments.revoke("pc-1")
    assert refused.value.status == 404


@pytest.mark.parametrize(("ttl_s", "max_uses"), [(0, 1), (-1, 1), (60, 0), (60, 100_001)])
def test_bad_token_parameters_are_refused(enrolments: Enrolments, ttl_s: float, max_uses: int) -> None:
    with pytest.raises(EnrolmentError) as refused:
        enrolments.create_token(ttl_s=ttl_s, max_uses=max_uses)
    assert refused.value.status == 422
    assert enrolments.tokens() == []
