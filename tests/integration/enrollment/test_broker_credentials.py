"""``edge.lms.enrolment.broker_credentials`` against a real Mosquitto running the dynamic-security plugin.

ACL denials are silent (a denied publish is acknowledged, a denied subscription gets a SUBACK), so these
tests check what is *delivered*: the forbidden message is sent first and a sentinel that must arrive is
sent after it over the same path; once the sentinel is in, the forbidden one would have been too.
"""

from __future__ import annotations

import json
import threading

import pytest

from edge.lms.enrolment import BrokerCredentials, CredentialsError
from shared import topics
from shared.topics import AgentDown, AgentUp
from tests.fixtures.brokers import ConnectRefused, MqttProbe
from tests.integration.enrollment.conftest import LMS_USER, DynsecBroker

pytestmark = pytest.mark.integration

NOT_AUTHORIZED = 135


def _agent(broker: DynsecBroker, credentials: BrokerCredentials, agent_id: str) -> MqttProbe:
    broker.passwords[agent_id] = credentials.issue(agent_id)
    return broker.client(agent_id, client_id=agent_id)


def test_the_lms_client_is_created_and_uses_every_classtop_topic(
    dynsec_broker: DynsecBroker, credentials: BrokerCredentials
) -> None:
    lms = dynsec_broker.client(LMS_USER, client_id="lms")
    lms.subscribe(topics.all_agents_up_filter())
    lms.publish(topics.agent_up("x1", AgentUp.STATUS), b"from-lms")
    assert lms.wait_for(topics.agent_up("x1", AgentUp.STATUS)).payload == b"from-lms"
    # ensure_lms is idempotent: a second LMS start re-keys the same client and keeps it working.
    credentials.ensure_lms()
    dynsec_broker.client(LMS_USER, client_id="lms-2")


def test_an_agent_uses_its_own_topics_and_cannot_read_another_agents(
    dynsec_broker: DynsecBroker, credentials: BrokerCredentials
) -> None:
    lms = dynsec_broker.client(LMS_USER, client_id="lms")
    a1 = _agent(dynsec_broker, credentials, "a1")
    _agent(dynsec_broker, credentials, "a2")
    # Own commands (the filter the real agent uses); someone else's, and everything, are denied.
    a1.subscribe(topics.agent_down_filter("a1"))
    a1.subscribe(topics.agent_down_filter("a2"))
    a1.subscribe("ct/#")
    a1.subscribe(topics.all_agents_up_filter())
    lms.publish(topics.agent_down("a2", AgentDown.COMMAND), b"for-a2")
    lms.publish(topics.agent_up("a2", AgentUp.STATUS), b"a2-status")
    lms.publish(topics.agent_down("a1", AgentDown.COMMAND), b"for-a1")  # the sentinel
    got = a1.wait_for(topics.agent_down("a1", AgentDown.COMMAND))
    assert got.payload == b"for-a1"
    assert a1.topics() == [topics.agent_down("a1", AgentDown.COMMAND)]


def test_an_agent_cannot_publish_as_another_agent_or_as_the_lms(
    dynsec_broker: DynsecBroker, credentials: BrokerCredentials
) -> None:
    lms = dynsec_broker.client(LMS_USER, client_id="lms")
    a1 = _agent(dynsec_broker, credentials, "a1")
    a2 = _agent(dynsec_broker, credentials, "a2")
    lms.subscribe("ct/#")
    a2.subscribe(topics.agent_down_filter("a2"))
    a1.publish(topics.agent_up("a2", AgentUp.STATUS), b"forged-status")
    a1.publish(topics.agent_down("a2", AgentDown.COMMAND), b"forged-command")
    a1.publish(topics.agent_down("a1", AgentDown.COMMAND), b"self-command")
    a1.publish(topics.agent_up("a1", AgentUp.STATUS), b"own-status")  # the sentinel
    assert lms.wait_for(topics.agent_up("a1", AgentUp.STATUS)).payload == b"own-status"
    assert lms.topics() == [topics.agent_up("a1", AgentUp.STATUS)]
    # a2 gets its real commands (and, by order, would have got the forged one before this).
    lms.publish(topics.agent_down("a2", AgentDown.COMMAND), b"real-command")
    assert a2.wait_for(topics.agent_down("a2", AgentDown.COMMAND)).payload == b"real-command"
    assert [m.payload for m in a2.messages] == [b"real-command"]


def test_credentials_are_bound_to_the_agents_client_id(
    dynsec_broker: DynsecBroker, credentials: BrokerCredentials
) -> None:
    dynsec_broker.passwords["a1"] = credentials.issue("a1")
    with pytest.raises(ConnectRefused) as refused:
        dynsec_broker.client("a1", client_id="not-a1")
    assert refused.value.reason_code.value == NOT_AUTHORIZED
    dynsec_broker.client("a1", client_id="a1")


def test_revocation_disconnects_at_once_and_refuses_reconnection(
    dynsec_broker: DynsecBroker, credentials: BrokerCredentials
) -> None:
    a1 = _agent(dynsec_broker, credentials, "a1")
    gone = threading.Event()
    a1.client.on_disconnect = lambda *_args: gone.set()
    assert credentials.list() == ["a1"]
    assert credentials.revoke("a1") is True
    assert gone.wait(5.0), "the broker did not disconnect the revoked agent"
    with pytest.raises(ConnectRefused) as refused:
        dynsec_broker.client("a1", client_id="a1")
    assert refused.value.reason_code.value == NOT_AUTHORIZED
    assert credentials.list() == []
    assert credentials.revoke("a1") is False  # revoking twice is harmless and says so


def test_reissuing_rotates_the_password(dynsec_broker: DynsecBroker, credentials: BrokerCredentials) -> None:
    old = credentials.issue("a1")
    new = credentials.issue("a1")
    assert old != new
    with pytest.raises(ConnectRefused):
        dynsec_broker.client("a1", old, client_id="a1")
    dynsec_broker.client("a1", new, client_id="a1")
    assert credentials.list() == ["a1"]


@pytest.mark.parametrize("agent_id", [LMS_USER, "dynsec-admin", "a/b", "+", "#", "", "x" * 65])
def test_reserved_or_malformed_agent_ids_are_refused_and_nothing_is_created(
    dynsec_broker: DynsecBroker, credentials: BrokerCredentials, agent_id: str
) -> None:
    with pytest.raises(CredentialsError) as refused:
        credentials.issue(agent_id)
    assert refused.value.kind == "invalid"
    assert credentials.list() == []
    dynsec_broker.client(LMS_USER, client_id="lms")  # the LMS's own client is untouched


def test_issued_credentials_survive_a_broker_restart(
    dynsec_broker: DynsecBroker, credentials: BrokerCredentials
) -> None:
    password = credentials.issue("a1")
    dynsec_broker.process.stop()
    dynsec_broker.process.start()
    assert dynsec_broker.client("a1", password, client_id="a1").connected.is_set()
    stored = json.loads(dynsec_broker.process.dynsec_file.read_text())
    assert {c["username"] for c in stored["clients"]} == {"dynsec-admin", LMS_USER, "a1"}


def test_a_broker_that_does_not_answer_is_a_clear_error(dynsec_broker: DynsecBroker) -> None:
    service = dynsec_broker.credentials(timeout_s=0.5)
    try:
        dynsec_broker.process.stop()
        with pytest.raises(CredentialsError) as refused:
            service.issue("a1")
        assert refused.value.kind == "unavailable"
    finally:
        service.stop()


def test_a_wrong_admin_password_is_a_clear_error(dynsec_broker: DynsecBroker) -> None:
    dynsec_broker.admin_password = "wrong"
    with pytest.raises(CredentialsError) as refused:
        dynsec_broker.credentials(timeout_s=1.0)
    assert refused.value.kind == "unavailable"
    assert "refused" in refused.value.message
