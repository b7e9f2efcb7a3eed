"""The twin's IoT Core stand-in (a real Mosquitto, ``template="iot-core"``): mutual TLS only, the site policy the
template deploys enforced as its evaluator reads it, the thing-name client id, and persistent sessions that
survive a restart and a kill -9."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from edge.lms.enrolment.broker_credentials import DynsecControl
from infra.aws.policy_eval import Connection, IotPolicy
from infra.aws.rules import RULES
from infra.local.iot_access import (
    ADMIN_CLIENT,
    ARN_PREFIX,
    RULES_CLIENT,
    StandInAccess,
    initial_dynsec_config,
    iot_core_settings,
    site_policy,
)
from infra.local.iot_ca import IotCa
from infra.local.mosquitto import BrokerTls, MosquittoProcess
from shared import topics
from shared.mqtt import IncomingMessage, MqttClient
from shared.names import Namespace
from tests.fixtures.iot_core import NOT_AUTHORIZED, MtlsProbe, SiteCertificate, site_certificate

pytestmark = pytest.mark.integration

NS = Namespace("demo", "dev")
OBSERVER = "observer"
SITES = ("school-1", "school-2")


@dataclass
class StandIn:
    broker: MosquittoProcess
    ca: IotCa
    iot_dir: Path
    access: StandInAccess
    policy: IotPolicy
    sites: dict[str, SiteCertificate]

    def probe(self, site: str | None, **kwargs: object) -> MtlsProbe:
        cert = self.sites[site] if site is not None else None
        return MtlsProbe(self.broker.port, self.ca.ca_file, cert.cert_file if cert else None,
                         cert.key_file if cert else None, **kwargs)  # type: ignore[arg-type]

    def identity(self, name: str) -> MtlsProbe:
        return MtlsProbe(self.broker.port, self.ca.ca_file, self.iot_dir / f"{name}.crt", self.iot_dir / f"{name}.key",
                         client_id=name)


@pytest.fixture(scope="module")
def stand_in() -> Iterator[StandIn]:
    workdir = Path(tempfile.mkdtemp(prefix="ct-iot-core-"))
    workdir.chmod(0o755)
    iot_dir = workdir / "iot"
    ca = IotCa(iot_dir)
    server = ca.issue_server(iot_dir)
    for name in (ADMIN_CLIENT, RULES_CLIENT, OBSERVER):
        ca.issue_client(iot_dir, name)
    broker = MosquittoProcess(workdir / "broker", template="iot-core",
                              tls=BrokerTls(ca.ca_file, server.cert_file, server.key_file),
                              dynsec_seed=initial_dynsec_config([OBSERVER], rules_engines=[RULES_CLIENT]))
    control: DynsecControl | None = None
    try:
        broker.start()
        control = DynsecControl(iot_core_settings(iot_dir, ADMIN_CLIENT, broker.host, broker.port))
        control.start()
        policy = IotPolicy(site_policy(NS))
        access = StandInAccess(control, policy)
        sites = {}
        for site in SITES:
            thing = topics.site_thing_name(NS, site)
            sites[site] = site_certificate(ca, workdir, thing)
            assert access.grant_site(thing, {"site_id": site})
        yield StandIn(broker, ca, iot_dir, access, policy, sites)
    finally:
        if control is not None:
            control.stop()
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _thing(site: str) -> str:
    return topics.site_thing_name(NS, site)


def _up(site: str, channel: str = "heartbeat") -> str:
    return f"ct/demo/dev/site/{site}/up/{channel}"


def _ingest(site: str, channel: topics.SiteUp = topics.SiteUp.HEARTBEAT) -> str:
    """What an LMS of ``site`` publishes ``channel`` on: Basic Ingest to the channel's rule."""
    return topics.site_up(NS, site, channel)


def _shadow(site: str, tail: str) -> str:
    return f"$aws/things/{_thing(site)}/shadow/{tail}"


#: (action, topic or topic filter, what the site policy says for school-1's certificate)
CASES = [
    ("iot:Publish", _up("school-1"), True),
    ("iot:Publish", _up("school-1", "results"), True),
    ("iot:Publish", _up("school-1", "a/b"), True),
    ("iot:Publish", "ct/demo/dev/site/school-1/up", False),
    ("iot:Publish", _up("school-2"), False),
    ("iot:Publish", "ct/other/dev/site/school-1/up/heartbeat", False),
    ("iot:Publish", "ct/demo/prod/site/school-1/up/heartbeat", False),
    ("iot:Publish", "ct/demo/dev/site/school-1/down/command", False),
    ("iot:Publish", _shadow("school-1", "name/pc-01/update"), True),
    ("iot:Publish", _shadow("school-1", "update"), True),
    ("iot:Publish", _shadow("school-2", "name/pc-01/update"), False),
    ("iot:Publish", _shadow("school-2", "get"), False),
    ("iot:Publish", "ct/agent/pc-01/down/command", False),
    ("iot:Publish", _ingest("school-1"), True),
    ("iot:Publish", _ingest("school-1", topics.SiteUp.ALERTS), True),
    ("iot:Publish", _ingest("school-2"), False),
    ("iot:Publish", _ingest("school-1").replace("__demo__dev__", "__other__dev__").replace("/demo/", "/other/"), False),
    ("iot:Publish", "$aws/rules/classtop__demo__dev__site_heartbeat/ct/demo/dev/site/school-2/up/heartbeat", False),
    ("iot:Subscribe", "$aws/rules/#", False),
    ("iot:Subscribe", _ingest("school-1"), False),
    ("iot:Subscribe", "ct/demo/dev/site/school-1/down/#", True),
    ("iot:Subscribe", "ct/demo/dev/site/school-1/down/command", True),
    ("iot:Subscribe", "ct/demo/dev/site/school-2/down/#", False),
    ("iot:Subscribe", "ct/demo/dev/site/+/down/#", False),
    ("iot:Subscribe", "ct/demo/dev/site/school-1/up/#", False),
    ("iot:Subscribe", "#", False),
    ("iot:Subscribe", "$aws/#", False),
    ("iot:Subscribe", _shadow("school-1", "name/+/update/delta"), True),
    ("iot:Subscribe", _shadow("school-1", "#"), True),
    ("iot:Subscribe", _shadow("school-2", "name/+/update/delta"), False),
    ("iot:Subscribe", _shadow("school-2", "#"), False),
    ("iot:Subscribe", "$aws/things/+/shadow/#", False),
]


@pytest.mark.parametrize(("action", "topic", "expected"), CASES)
def test_the_broker_and_the_policy_evaluator_agree(stand_in: StandIn, action: str, topic: str, expected: bool) -> None:
    thing = _thing("school-1")
    kind = "topicfilter" if action == "iot:Subscribe" else "topic"
    evaluated = stand_in.policy.allows(action, f"{ARN_PREFIX}{kind}/{topic}",
                                       Connection(thing, thing, attributes={"site_id": "school-1"}))
    probe = stand_in.probe("school-1", client_id=thing)
    assert probe.connect()
    try:
        code = probe.subscribe(topic) if action == "iot:Subscribe" else probe.publish(topic)
    finally:
        probe.close()
    assert evaluated is expected
    assert (code != NOT_AUTHORIZED) is expected, f"{action} {topic}: broker answered {code:#x}"


def test_a_site_receives_only_what_its_policy_lets_it_receive(stand_in: StandIn) -> None:
    site1 = stand_in.probe("school-1", client_id=_thing("school-1"))
    cloud = stand_in.identity(OBSERVER)
    assert site1.connect() and cloud.connect()
    try:
        assert site1.subscribe("ct/demo/dev/site/school-1/down/#") == 1
        assert site1.subscribe(_shadow("school-1", "name/+/update/delta")) == 1
        for topic in ("ct/demo/dev/site/school-1/down/command", _shadow("school-1", "name/pc-01/update/delta")):
            assert cloud.publish(topic, b"for school-1") == 0
            assert site1.messages.get(timeout=5) == (topic, b"for school-1")
    finally:
        site1.close()
        cloud.close()


def test_basic_ingest_reaches_the_rules_engine_only(stand_in: StandIn) -> None:
    """As on IoT Core, a message on ``$aws/rules/<rule>/...`` goes to the rule and to no subscriber: the twin's
    other privileged parts may not subscribe to it; the rules engine's identity receives it."""
    site1 = stand_in.probe("school-1", client_id=_thing("school-1"))
    observer = stand_in.identity(OBSERVER)
    engine = stand_in.identity(RULES_CLIENT)
    rule = next(r for r in RULES if r.channel is topics.SiteUp.HEARTBEAT)
    assert site1.connect() and observer.connect() and engine.connect()
    try:
        assert observer.subscribe("$aws/rules/#") == NOT_AUTHORIZED
        assert observer.subscribe(rule.basic_ingest_filter(NS)) == NOT_AUTHORIZED
        assert observer.subscribe("ct/demo/dev/site/+/up/#") != NOT_AUTHORIZED  # the plain topics it still gets
        assert engine.subscribe(rule.basic_ingest_filter(NS)) == 1
        assert site1.publish(_ingest("school-1"), b"beat") in (0, 16)
        assert engine.messages.get(timeout=5) == (_ingest("school-1"), b"beat")
        assert site1.publish(_up("school-1"), b"plain") in (0, 16)  # the plain topic: only subscribers of it
        assert observer.messages.get(timeout=5) == (_up("school-1"), b"plain")
        assert observer.messages.empty()
    finally:
        for probe in (site1, observer, engine):
            probe.close()


def test_no_certificate_no_connection(stand_in: StandIn) -> None:
    assert not stand_in.probe(None).connect()  # anonymous
    assert not stand_in.probe(None, username=_thing("school-1"), password="any").connect()  # a password is no key


def test_a_certificate_of_another_ca_is_refused(stand_in: StandIn, tmp_path: Path) -> None:
    other = IotCa(tmp_path / "other-ca")
    forged = site_certificate(other, tmp_path, _thing("school-1"))  # the right name, the wrong issuer
    assert not MtlsProbe(stand_in.broker.port, stand_in.ca.ca_file, forged.cert_file, forged.key_file).connect()


def test_a_certificate_of_no_enrolled_thing_may_do_nothing(stand_in: StandIn, tmp_path: Path) -> None:
    stray = site_certificate(stand_in.ca, tmp_path, _thing("school-9"))
    probe = MtlsProbe(stand_in.broker.port, stand_in.ca.ca_file, stray.cert_file, stray.key_file)
    assert probe.connect()
    try:
        assert probe.publish(_up("school-9")) == NOT_AUTHORIZED
        assert probe.subscribe("ct/demo/dev/site/school-9/down/#") == NOT_AUTHORIZED
    finally:
        probe.close()


def test_the_client_id_is_the_certificates_thing_name(stand_in: StandIn) -> None:
    # school-2's certificate asking for school-1's client id gets its own: school-1's session is not taken over
    site1 = stand_in.probe("school-1", client_id=_thing("school-1"))
    impostor = stand_in.probe("school-2", client_id=_thing("school-1"))
    assert site1.connect() and impostor.connect()
    try:
        assert impostor.publish(_up("school-1")) == NOT_AUTHORIZED
        assert site1.connected.is_set()
        # school-1's certificate under another client id is school-1's thing again: it takes the session over
        again = stand_in.probe("school-1", client_id="anything-else")
        assert again.connect()
        assert site1.closed.wait(5) and site1.disconnect_reason is not None
        assert "already connected" in stand_in.broker.log_since_start()  # taken over by the same thing
        again.close()
    finally:
        site1.close()
        impostor.close()


def test_a_revoked_site_is_disconnected_and_refused(stand_in: StandIn, tmp_path: Path) -> None:
    thing = _thing("school-3")
    cert = site_certificate(stand_in.ca, tmp_path, thing)
    stand_in.access.grant_site(thing, {"site_id": "school-3"})
    probe = MtlsProbe(stand_in.broker.port, stand_in.ca.ca_file, cert.cert_file, cert.key_file, client_id=thing)
    assert probe.connect()
    assert probe.publish(_up("school-3")) in (0, 16)
    stand_in.access.revoke_site(thing)
    assert probe.closed.wait(5)
    probe.close()
    again = MtlsProbe(stand_in.broker.port, stand_in.ca.ca_file, cert.cert_file, cert.key_file, client_id=thing)
    assert again.connect()
    try:
        assert again.publish(_up("school-3")) == NOT_AUTHORIZED
    finally:
        again.close()


@pytest.mark.parametrize("how", ["restart", "kill -9"])
def test_a_persistent_session_loses_nothing_across_a_broker_restart(stand_in: StandIn, how: str) -> None:
    """The rules engine's session (fixed client id, QoS 1, kept by the broker) gets every message a site published
    while it was away, also when the broker was restarted or killed in between."""
    received: list[str] = []  # payloads, in the order the handler saw them
    done = threading.Event()
    count = 50

    def handle(msg: IncomingMessage) -> None:
        received.append(msg.payload.decode())
        if len(set(received)) >= count:
            done.set()

    rules = MqttClient(iot_core_settings(stand_in.iot_dir, RULES_CLIENT, stand_in.broker.host, stand_in.broker.port,
                                         session_expiry_s=3600), name="rules")
    rules.subscribe(topics.all_sites_up_filter(NS, topics.SiteUp.EVENTS), handle, qos=1)
    rules.start(wait_s=10)
    rules.stop()  # away: the broker keeps its session (subscriptions) and queues what it would get

    def publish(numbers: range) -> None:
        site = stand_in.probe("school-1", client_id=_thing("school-1"))
        assert site.connect()
        try:
            for i in numbers:
                assert site.publish(_up("school-1", "events"), f"n{i:04d}".encode()) in (0, 16)
        finally:
            site.close()

    publish(range(count // 2))  # queued for the session before the broker goes down
    if how == "kill -9":
        # the broker writes its database after each change, once its loop comes round after the PUBACK: a kill
        # before that write loses the last message (docs/field-notes.md#mosquitto); wait for it
        last = f"n{count // 2 - 1:04d}".encode()
        database = stand_in.broker.data_dir / "mosquitto.db"
        deadline = time.monotonic() + 10
        while last not in database.read_bytes() and time.monotonic() < deadline:
            time.sleep(0.02)
        pid = stand_in.broker.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
    stand_in.broker.stop()
    stand_in.broker.start()
    publish(range(count // 2, count))  # queued for the session the broker brought back
    rules.start(wait_s=None)
    try:
        assert done.wait(15), f"{len(set(received))} of {count} messages"
        # at least once (QoS 1): a message in flight at the restart may come twice, as from IoT Core
        assert sorted(set(received)) == [f"n{i:04d}" for i in range(count)]
    finally:
        rules.stop()
