"""The twin's IoT Core stand-in as IoT Core (issue 20): the LMS links over mutual TLS with the certificate its site
got at enrolment; another site's certificate is refused on this site's topics and shadows; a client without a
certificate is refused outright; and no message the LMS sent is missed by a topic rule because the broker restarted
(or was killed) while the LMS drained its outbox."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.lms.entrypoint import CERT_FILE, KEY_FILE
from infra.local.iot_ca import IotCa
from infra.local.twin import Twin
from shared import topics
from shared.names import Namespace
from tests.fixtures.iot_core import NOT_AUTHORIZED, MtlsProbe, enrol_site, site_certificate
from tests.fixtures.twin_calls import cloud, eventually

pytestmark = pytest.mark.e2e

AGENTS = ("pc-m1", "pc-m2")  # the agents of the module's twin (tests/e2e/conftest.py)
OTHER_SITE = "school-2"


def _ns(twin: Twin) -> Namespace:
    return Namespace(twin.opt.tenant, twin.opt.stage)


@pytest.fixture(scope="module")
def other_site(twin: Twin) -> Iterator[Path]:
    """A second site enrolled with the twin's cloud as an LMS container enrols (its own key, CSR, certificate)."""
    data_dir = Path(tempfile.mkdtemp(prefix="ct-other-site-"))
    enrol_site(twin.api_url, twin.admin_token, twin.opt.tenant, twin.opt.stage, OTHER_SITE, data_dir)
    yield data_dir / "certs"
    shutil.rmtree(data_dir, ignore_errors=True)


def test_the_lms_links_to_the_stand_in_over_mutual_tls(twin: Twin) -> None:
    config = (twin.lms_dir / "lms.toml").read_text()
    assert "[cloud.tls]" in config
    thing = topics.site_thing_name(_ns(twin), twin.opt.site_id)
    assert f"as {thing} (mTLS)" in (twin.workdir / "logs" / "lms.log").read_text()
    assert twin.cloud_broker is not None
    # the broker took the identity from the site's certificate (issued at the twin's enrolment)
    assert f"u'{thing}'" in twin.cloud_broker.log_since_start()


def test_another_sites_certificate_is_refused_on_this_sites_topics_and_shadows(twin: Twin, other_site: Path) -> None:
    ns, here = _ns(twin), twin.opt.site_id
    thing, other_thing = topics.site_thing_name(ns, here), topics.site_thing_name(ns, OTHER_SITE)
    assert twin.cloud_broker is not None
    watcher = MtlsProbe(twin.cloud_broker.port, twin.iot_dir / "ca.crt", *_identity(twin, "e2e-stand-in-watcher"),
                        client_id="e2e-stand-in-watcher")
    intruder = MtlsProbe(twin.cloud_broker.port, twin.iot_dir / "ca.crt", other_site / CERT_FILE,
                         other_site / KEY_FILE, client_id=thing)  # even asking for this site's client id
    assert watcher.connect() and intruder.connect()
    try:
        assert watcher.subscribe(f"ct/{ns.tenant}/{ns.stage}/site/{here}/up/#") == 1
        assert watcher.subscribe(f"$aws/things/{thing}/shadow/#") == 1
        # its own site works (the control) ...
        assert intruder.publish(topics.site_up(ns, OTHER_SITE, topics.SiteUp.EVENTS), b"[]") in (0, 16)
        assert intruder.subscribe(topics.site_down_filter(ns, OTHER_SITE)) == 1
        # ... this site's topics and shadows do not: publishes refused and not delivered, subscriptions refused
        agent_shadow = topics.shadow(thing, topics.ShadowOp.UPDATE, topics.agent_shadow_name(AGENTS[0]))
        for topic in (topics.site_up(ns, here, topics.SiteUp.EVENTS), agent_shadow,
                      topics.shadow(thing, topics.ShadowOp.GET, topics.lms_config_shadow_name())):
            assert intruder.publish(topic, b'{"forged": true}') == NOT_AUTHORIZED, topic
        for topic_filter in (topics.site_down_filter(ns, here), f"$aws/things/{thing}/shadow/#",
                             topics.shadow(thing, topics.ShadowOp.UPDATE_DELTA, topics.agent_shadow_name(AGENTS[0]))):
            assert intruder.subscribe(topic_filter) == NOT_AUTHORIZED, topic_filter
        assert watcher.publish(f"ct/{ns.tenant}/{ns.stage}/site/{here}/up/marker", b"end") in (0, 16)
        seen = []
        while (item := watcher.messages.get(timeout=10))[1] != b"end":
            seen.append(item)
        assert not [item for item in seen if b"forged" in item[1]]
        assert intruder.connected.is_set() and other_thing != thing
    finally:
        watcher.close()
        intruder.close()


def _identity(twin: Twin, name: str) -> tuple[Path, Path]:
    settings = twin.iot_core_client(name)
    assert settings.tls is not None and settings.tls.cert_file and settings.tls.key_file
    return settings.tls.cert_file, settings.tls.key_file


def test_a_client_without_a_certificate_is_refused_outright(twin: Twin, tmp_path: Path) -> None:
    assert twin.cloud_broker is not None
    port, ca_file = twin.cloud_broker.port, twin.iot_dir / "ca.crt"
    assert not MtlsProbe(port, ca_file).connect()
    assert not MtlsProbe(port, ca_file, username="admin", password="admin").connect()
    forged = site_certificate(IotCa(tmp_path / "forger-ca"), tmp_path,
                              topics.site_thing_name(_ns(twin), twin.opt.site_id))
    assert not MtlsProbe(port, ca_file, forged.cert_file, forged.key_file).connect()


def test_the_lms_sends_to_the_rules_by_basic_ingest_and_no_subscriber_gets_it(twin: Twin) -> None:
    """The LMS publishes its up channels on ``$aws/rules/<rule>/...``: the results of a command reach the cloud
    through the rules engine, while a privileged watcher of the site's plain up topics sees none of them and may not
    subscribe to ``$aws/rules/#`` (as on IoT Core, where Basic Ingest bypasses the broker's subscribers)."""
    ns, here = _ns(twin), twin.opt.site_id
    assert twin.cloud_broker is not None
    watcher = MtlsProbe(twin.cloud_broker.port, twin.iot_dir / "ca.crt", *_identity(twin, "e2e-ingest-watcher"),
                        client_id="e2e-ingest-watcher")
    assert watcher.connect()
    try:
        assert watcher.subscribe(f"ct/{ns.tenant}/{ns.stage}/site/{here}/up/#") == 1
        assert watcher.subscribe("$aws/rules/#") == NOT_AUTHORIZED
        assert watcher.subscribe(topics.site_up(ns, here, topics.SiteUp.RESULTS)) == NOT_AUTHORIZED
        ids = _run_commands(twin, 2)

        def finished() -> bool:
            return all(cloud(twin, "GET", f"/api/commands/{i}")[1]["data"]["status"] == "succeeded" for i in ids)

        eventually(finished, 60, "the commands' results in the cloud")
        assert watcher.publish(f"ct/{ns.tenant}/{ns.stage}/site/{here}/up/marker", b"end") in (0, 16)
        seen = []
        while (item := watcher.messages.get(timeout=10))[1] != b"end":
            seen.append(item[0])
        assert seen == [], f"the LMS published on plain up topics: {sorted(set(seen))}"
    finally:
        watcher.close()


def _run_commands(twin: Twin, n: int) -> list[str]:
    ids = []
    for i in range(n):
        agent = AGENTS[i % len(AGENTS)]
        status, body = cloud(twin, "POST", "/api/commands",
                             {"agent_id": agent, "command": "exec", "params": {"cmd": f"sleep 1; echo {i}"}})
        assert status == 202, body
        ids.append(body["data"]["command_id"])
    return ids


@pytest.mark.parametrize("how", ["restart", "kill -9"])
def test_no_result_is_lost_when_the_stand_in_restarts_while_the_lms_drains(twin: Twin, how: str) -> None:
    """Commands run on the agents while the stand-in is down; their results wait in the LMS's outbox, which drains
    when the broker is back — before or while the rules engine reconnects. Every result reaches the cloud."""
    broker = twin.cloud_broker
    assert broker is not None
    ids = _run_commands(twin, 6)
    time.sleep(0.5)  # on their way to the agents (any not there yet follow after the restart: QoS 1 sessions)
    if how == "kill -9":
        assert broker.pid is not None
        os.kill(broker.pid, signal.SIGKILL)
    broker.stop()
    time.sleep(2)  # the agents finish meanwhile: results queue in the LMS's outbox
    broker.start()

    def finished() -> bool:
        return all(cloud(twin, "GET", f"/api/commands/{i}")[1]["data"]["status"] != "pending" for i in ids)

    eventually(finished, 60, "every command's result in the cloud")
    statuses = {i: cloud(twin, "GET", f"/api/commands/{i}")[1]["data"]["status"] for i in ids}
    assert set(statuses.values()) == {"succeeded"}, statuses
