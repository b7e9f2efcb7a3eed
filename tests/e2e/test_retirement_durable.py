"""Retirement consistent both ways and durable, across all tiers (the local twin; docs/operations.md#an-agent):

* an agent retired at its LMS only, while the cloud is unreachable, is cleaned from the cloud once the link is back
  (the LMS's outbox carries ``agents_retired``);
* a retirement ordered in the cloud while the LMS is offline (and its IoT session gone) reaches the LMS when it is
  back (the cloud keeps the order and sends it again after the LMS's full heartbeats), and the LMS's heartbeats do
  not bring the agent back meanwhile;
* an LMS can only retire its own site's agents in the cloud (another enrolled site's report naming them is refused).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.local import toml_writer
from infra.local.ports import free_port
from infra.local.process import ChildProcess, wait_for
from infra.local.twin import Twin
from shared import topics
from shared.messages import AgentsRetired, RetiredAgentEntry, encode
from shared.names import Namespace
from tests.e2e.test_shadow_settings import call, eventually
from tests.fixtures.iot_core import NOT_AUTHORIZED, MtlsProbe, enrol_site
from tests.fixtures.twins import running_twin

pytestmark = pytest.mark.e2e

AGENTS = ("rd-1", "rd-2", "rd-3")
OTHER_SITE = "school-9"  # another site enrolled with the same cloud
RESEND_S = "3"  # the cloud sends a waiting order again at most every 3 s (60 s by default)


@pytest.fixture(scope="module")
def twin() -> Iterator[Twin]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CLASSTOP_ORDER_RESEND_S", RESEND_S)  # the local cloud process inherits it
        with running_twin("ct-retirement-durable-", agent_ids=AGENTS, site_heartbeat_s=2.0) as running:
            yield running


def lms(twin: Twin, path: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
    return call(f"{twin.lms_url}{path}", twin.lms_token, method, body, twin.lms_ssl_context())


def cloud(twin: Twin, path: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
    return call(f"{twin.api_url}{path}", twin.admin_token, method, body)


def start_lms(twin: Twin, name: str, config: dict[str, Any]) -> ChildProcess:
    """The twin's LMS (same database and broker) started from ``config`` instead of its own file."""
    path = twin.lms_dir / f"{name}.toml"
    path.write_text(toml_writer.dumps(config))
    child = ChildProcess.python(
        f"LMS {name}", "edge.lms", ["--config", str(path)], twin.workdir / "logs" / f"lms-{name}.log",
        env={"CLASSTOP_LMS_ADMIN_TOKEN": twin.lms_token},
    ).start()
    twin.lifecycle.on_stop(f"LMS {name}", child.stop)
    wait_for("the LMS API", lambda: twin.lms_api("/api/health").get("success"), 60, watch=[child])
    return child


def cloud_linked(twin: Twin) -> bool:
    return bool((twin.lms_api("/api/health")["data"].get("cloud") or {}).get("connected"))


def test_an_agent_retired_at_the_lms_while_the_cloud_is_away_is_cleaned_from_the_cloud(twin: Twin) -> None:
    assert cloud(twin, "/api/agents/rd-1/settings", "PUT", {"settings": {"theme_mode": "dark"}})[0] == 200
    assert twin.lms is not None
    twin.lms.stop()
    unreachable = {**twin.lms_config(), "cloud": {**twin.lms_config()["cloud"], "port": free_port()}}
    away = start_lms(twin, "cloud-away", unreachable)
    try:
        status, body = lms(twin, "/api/clients/rd-1/retire", "POST", {"reason": "scrapped"})
        assert status == 200, body
        assert twin.lms_api("/api/health")["data"]["cloud"]["outbox_pending"] >= 1  # waiting in the outbox
        assert cloud(twin, "/api/agents/rd-1")[0] == 200  # the cloud cannot know yet
    finally:
        away.stop()
    twin.start_lms()  # the link is back: the outbox drains
    eventually(lambda: cloud(twin, "/api/agents/rd-1")[0] == 404, 60, what="the cloud cleaning rd-1")
    shadow = cloud(twin, "/api/agents/rd-2/settings")  # the others are untouched
    assert shadow[0] == 200
    agents = {a["agent_id"] for a in cloud(twin, f"/api/agents?site_id={twin.opt.site_id}")[1]["data"]["agents"]}
    assert agents == {"rd-2", "rd-3"}


def test_a_cloud_retirement_reaches_an_lms_that_was_offline(twin: Twin) -> None:
    # An LMS whose IoT session ends when it disconnects (as after IoT Core's session expiry): nothing queues for it.
    assert twin.lms is not None
    twin.lms.stop()
    no_session = {**twin.lms_config(), "cloud": {**twin.lms_config()["cloud"], "session_expiry_s": 0}}
    first = start_lms(twin, "no-session", no_session)
    eventually(lambda: cloud_linked(twin), 60, what="the LMS linked to the cloud")
    first.stop()  # offline

    status, body = cloud(twin, "/api/agents/rd-2/retire", "POST", {"reason": "moved to another school"})
    assert status == 200, body
    assert cloud(twin, "/api/agents/rd-2")[0] == 404

    back = start_lms(twin, "no-session-back", no_session)
    try:
        # the agent reconnects and the LMS lists it online in its heartbeats until the order arrives
        eventually(lambda: lms(twin, "/api/clients/rd-2")[0] == 404, 90, what="the LMS retiring rd-2")
        archive = lms(twin, "/api/retired-agents?agent_id=rd-2")[1]["data"]["retired"]
        assert archive[0]["reason"] == "moved to another school" and archive[0]["retired_by"].startswith("cloud:")
        audit = lms(twin, "/api/audit?action=agent:retire")[1]["data"]["entries"]
        assert ("rd-2", "ok") in [(e["target"], e["result"]) for e in audit]
        # the cloud never brought it back, and once the LMS reported it the order is done
        assert cloud(twin, "/api/agents/rd-2")[0] == 404
        cloud_log = twin.workdir / "logs" / "cloud.log"
        sends = cloud_log.read_text(errors="replace").count(f"order retire#rd-2 sent to site {twin.opt.site_id}")
        assert sends >= 2  # once when ordered (nobody listening), again after the LMS's heartbeats
        agents = {a["agent_id"] for a in cloud(twin, f"/api/agents?site_id={twin.opt.site_id}")[1]["data"]["agents"]}
        assert agents == {"rd-3"}
    finally:
        back.stop()
    twin.start_lms()


def test_an_lms_can_retire_only_its_own_sites_agents_in_the_cloud(twin: Twin, tmp_path: Path) -> None:
    """The attacker: another site's LMS, enrolled with the same cloud (its own certificate), reports on its own
    ``up/retired`` topic that it retired an agent of this site. The cloud leaves that agent alone. (Publishing on this
    site's topic is refused by IoT Core — the site policy — and by the twin's stand-in: checked here as the control;
    tests/e2e/test_iot_core_stand_in_twin.py covers the other topics and shadows.)"""
    ns, here = Namespace(twin.opt.tenant, twin.opt.stage), twin.opt.site_id
    assert twin.cloud_broker is not None
    other = enrol_site(twin.api_url, twin.admin_token, ns.tenant, ns.stage, OTHER_SITE, tmp_path / "other-site")
    intruder = MtlsProbe(twin.cloud_broker.port, twin.iot_dir / "ca.crt", other.cert_file, other.key_file,
                         client_id=other.thing_name)  # fmt: skip
    assert intruder.connect()
    try:
        victim = AGENTS[2]  # rd-3: still this site's (the tests above retired rd-1 and rd-2)
        assert cloud(twin, f"/api/agents/{victim}")[0] == 200
        report = encode(AgentsRetired(agents=[RetiredAgentEntry(agent_id=victim, retired_at=time.time())]))
        assert intruder.publish(topics.site_up(ns, here, topics.SiteUp.RETIRED), report) == NOT_AUTHORIZED
        assert intruder.publish(topics.site_up(ns, OTHER_SITE, topics.SiteUp.RETIRED), report) in (0, 16)
        cloud_log = twin.workdir / "logs" / "cloud.log"
        refused = f"site {OTHER_SITE} reported agents of other sites retired, left alone: {victim}"
        eventually(lambda: refused in cloud_log.read_text(errors="replace"), 30, what="the refusal")
        assert cloud(twin, f"/api/agents/{victim}")[0] == 200
        assert cloud(twin, f"/api/agents/{victim}/settings")[0] == 200  # its shadow kept too
        agents = {a["agent_id"] for a in cloud(twin, f"/api/agents?site_id={here}")[1]["data"]["agents"]}
        assert victim in agents
    finally:
        intruder.close()
