"""The site broker and the IoT Core stand-in, as real Mosquitto processes driven with paho-mqtt 2.x.

ACL denials are silent (a denied publish is acknowledged, a denied subscription gets a SUBACK), so these
tests check what is *delivered*: after the message that must not arrive, a sentinel that must arrive is
sent over the same path; once the sentinel is in, the earlier message would have been too.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
from pathlib import Path

import pytest
from paho.mqtt.enums import MQTTProtocolVersion

from infra.local.mosquitto import MosquittoError, MosquittoProcess
from infra.local.ports import free_port
from tests.fixtures.brokers import Broker, ConnectRefused

pytestmark = pytest.mark.integration

# MQTT 5 reason codes; paho maps MQTT 3.1.1 CONNACK return codes 4 and 5 onto them.
BAD_USERNAME_OR_PASSWORD = 134
NOT_AUTHORIZED = 135


def down(agent: str, leaf: str = "command") -> str:
    return f"ct/agent/{agent}/down/{leaf}"


def up(agent: str, leaf: str = "status") -> str:
    return f"ct/agent/{agent}/up/{leaf}"


def test_authenticated_clients_connect(site_broker: Broker) -> None:
    for user in ("lms", "agent-1", "agent-2"):
        probe = site_broker.client(user)
        assert probe.connack is not None and not probe.connack.is_failure
        assert probe.client.is_connected()


@pytest.mark.parametrize("protocol", [MQTTProtocolVersion.MQTTv311, MQTTProtocolVersion.MQTTv5])
def test_wrong_password_is_refused(site_broker: Broker, protocol: MQTTProtocolVersion) -> None:
    with pytest.raises(ConnectRefused) as refused:
        site_broker.client("agent-1", "not-the-password", protocol=protocol)
    assert refused.value.reason_code.is_failure
    assert refused.value.reason_code.value in (BAD_USERNAME_OR_PASSWORD, NOT_AUTHORIZED)


def test_unknown_user_and_anonymous_are_refused(site_broker: Broker) -> None:
    with pytest.raises(ConnectRefused):
        site_broker.client("agent-9", "whatever")
    with pytest.raises(ConnectRefused):
        site_broker.client(None)


def test_agent_receives_its_own_down_topic_and_lms_its_up_topic(site_broker: Broker) -> None:
    lms = site_broker.client("lms")
    agent = site_broker.client("agent-1")
    agent.subscribe(down("agent-1", "#"))
    lms.subscribe("ct/#")

    lms.publish(down("agent-1"), b'{"type":"command"}')
    got = agent.wait_for(down("agent-1"))
    assert got.payload == b'{"type":"command"}'

    agent.publish(up("agent-1"), b'{"type":"heartbeat"}')
    assert lms.wait_for(up("agent-1")).payload == b'{"type":"heartbeat"}'


def test_agent_cannot_receive_another_agents_topics(site_broker: Broker) -> None:
    lms = site_broker.client("lms")
    agent1 = site_broker.client("agent-1")
    spy = site_broker.client("agent-2")
    # Each of these SUBSCRIBEs is acknowledged; the ACL filters on delivery.
    for topic in (down("agent-1", "#"), up("agent-1", "#"), "ct/#", "#"):
        spy.subscribe(topic)
    lms.subscribe(up("agent-1", "#"))

    lms.publish(down("agent-1"), b"secret command")
    agent1.publish(up("agent-1"), b"secret status")
    assert lms.wait_for(up("agent-1")).payload == b"secret status"  # it did go through the broker

    lms.publish(down("agent-2", "sentinel"), b"for agent-2")  # its own down topic: delivered
    spy.wait_for(down("agent-2", "sentinel"))
    assert spy.topics() == [down("agent-2", "sentinel")] * len(spy.messages)
    assert not any(m.topic.startswith("ct/agent/agent-1/") for m in spy.messages)


def test_agent_cannot_publish_on_another_agents_topics(site_broker: Broker) -> None:
    lms = site_broker.client("lms")
    agent1 = site_broker.client("agent-1")
    spy = site_broker.client("agent-2")
    lms.subscribe("ct/#")
    agent1.subscribe(down("agent-1", "#"))

    spy.publish(down("agent-1"), b"forged command")  # denied: agent-1 must not get it
    spy.publish(up("agent-1"), b"forged status")  # denied: the LMS must not get it
    spy.publish(down("agent-2"), b"self-addressed command")  # an agent cannot write its own down/
    spy.publish(up("agent-2", "sentinel"), b"ok")  # allowed

    assert lms.wait_for(up("agent-2", "sentinel")).payload == b"ok"
    assert lms.topics() == [up("agent-2", "sentinel")]

    lms.publish(down("agent-1", "sentinel"), b"real")
    assert agent1.wait_for(down("agent-1", "sentinel")).payload == b"real"
    assert agent1.topics() == [down("agent-1", "sentinel")]


def test_reload_picks_up_a_new_user(site_broker: Broker) -> None:
    password = site_broker.add_user("agent-3", reload=False)
    with pytest.raises(ConnectRefused):  # written, but the broker has not re-read the file
        site_broker.client("agent-3")

    site_broker.process.reload()
    agent3 = site_broker.client("agent-3", password)
    lms = site_broker.client("lms")
    agent3.subscribe(down("agent-3", "#"))
    lms.publish(down("agent-3"), b"welcome")
    assert agent3.wait_for(down("agent-3")).payload == b"welcome"

    # Removing a user takes effect for new connections after the next reload.
    del site_broker.passwords["agent-3"]
    site_broker.process.set_users(site_broker.passwords)
    site_broker.process.reload()
    with pytest.raises(ConnectRefused):
        site_broker.client("agent-3", password)


def test_reload_picks_up_a_new_acl(site_broker: Broker) -> None:
    lms = site_broker.client("lms")
    lms.subscribe("ct/#")
    site_broker.process.set_acl("user lms\ntopic readwrite ct/#\npattern write ct/site/%u/#\n")
    site_broker.process.reload()
    agent = site_broker.client("agent-1")
    agent.publish(up("agent-1"), b"no longer allowed")
    agent.publish("ct/site/agent-1/x", b"allowed now")
    assert lms.wait_for("ct/site/agent-1/x").payload == b"allowed now"
    assert lms.topics() == ["ct/site/agent-1/x"]


def test_retained_messages_survive_a_restart_on_the_same_port(site_broker: Broker) -> None:
    agent = site_broker.client("agent-1")
    agent.publish(up("agent-1", "presence"), b"online", retain=True)
    site_broker.close_clients()
    port = site_broker.port

    site_broker.process.stop()
    assert not site_broker.process.running
    site_broker.process.start()
    assert site_broker.port == port

    lms = site_broker.client("lms")
    lms.subscribe(up("agent-1", "#"))
    got = lms.wait_for(up("agent-1", "presence"))
    assert (got.payload, got.retain) == (b"online", True)


def test_cloud_stand_in_is_anonymous_and_carries_aws_topics(cloud_broker: Broker) -> None:
    lms = cloud_broker.client()
    rules = cloud_broker.client()
    rules.subscribe("ct/+/+/site/#")
    rules.subscribe("$aws/things/+/shadow/#")
    everything = cloud_broker.client()
    everything.subscribe("#")

    lms.publish("$aws/things/site-1/shadow/update", b"{}")
    lms.publish("ct/t1/dev/site/site-1/up/heartbeat", b"{}")
    assert rules.wait_for("$aws/things/site-1/shadow/update").payload == b"{}"
    assert rules.wait_for("ct/t1/dev/site/site-1/up/heartbeat").payload == b"{}"
    everything.wait_for("ct/t1/dev/site/site-1/up/heartbeat")
    assert everything.topics() == ["ct/t1/dev/site/site-1/up/heartbeat"]  # '#' never matches '$' topics


def test_start_failure_reports_the_broker_log() -> None:
    # The port is taken by someone else (and given explicitly, so there is no retry on another port):
    # it accepts connections, but the broker is not the one listening.
    workdir = Path(tempfile.mkdtemp(prefix="ct-fail-"))
    try:
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", 0))
            holder.listen()
            port = holder.getsockname()[1]
            broker = MosquittoProcess(workdir, port=port, template="cloud")
            with pytest.raises(MosquittoError, match="Address already in use"):
                broker.start()
            assert not broker.running
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def test_context_manager_and_properties() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="ct-ctx-"))
    try:
        port = free_port()
        with MosquittoProcess(workdir, port=port, template="cloud") as broker:
            assert broker.running and broker.port == port
            assert broker.url == f"mqtt://127.0.0.1:{port}"
            assert broker.log_path.is_file()
            assert "set_tcp_nodelay true" in broker.config_path.read_text()
        assert not broker.running
        with pytest.raises(ValueError):
            MosquittoProcess(workdir, template="cloud", users={"a": "b"})
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
