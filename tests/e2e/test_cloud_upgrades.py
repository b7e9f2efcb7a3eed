"""Agent upgrades ordered from the cloud, across all tiers (the local twin; docs/upgrades.md#campaigns-from-the-
cloud; docs/operations.md#site-operations-upgrade-the-agents):

* a package published to the tenant's bucket through the cloud API, a campaign started in the cloud: the LMS
  downloads the package into its own cache (checksum and signature verified), runs its waves (canary first) and
  every agent comes back on the new version; the cloud shows the campaign ``succeeded`` per site and per agent;
* a package whose new version never comes online: the canary rolls back by itself, the LMS stops the campaign,
  and the cloud shows it ``failed`` with the agent ``rolled_back`` on its old version;
* a campaign started while the LMS is offline (and its IoT session gone) runs when the LMS is back.

The agents run under the upgrade supervisor (the restarter and rollback watchdog: docs/upgrades.md#restart-and-
rollback), installed at version 1.0.0 from a package built from this repository.
"""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from edge.agent.upgrade_slots import Slots
from infra.local import toml_writer
from infra.local.process import ChildProcess, wait_for
from infra.local.twin import Twin
from shared.agent_packages import sha256_of
from tests.e2e.test_shadow_settings import call, eventually
from tests.fixtures.agent_packages import ReleaseKey, build_package
from tests.fixtures.twins import running_twin

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

AGENTS = ("up-1", "up-2", "up-3")
ROLLBACK_S = 8


@pytest.fixture(scope="module")
def release() -> ReleaseKey:
    return ReleaseKey()


@pytest.fixture(scope="module")
def twin(release: ReleaseKey) -> Iterator[Twin]:
    """The twin with its LMS configured for upgrades and its agents under the upgrade supervisor at 1.0.0."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CLASSTOP_ORDER_RESEND_S", "3")
        with running_twin("ct-cloud-upgrades-", agent_ids=AGENTS, site_heartbeat_s=2.0) as running:
            upgradable(running, release)
            yield running


def upgradable(twin: Twin, release: ReleaseKey) -> None:
    assert twin.lms is not None
    twin.lms.stop()
    config = {**twin.lms_config(), "upgrades": {"release_public_key": release.public, "rollback_s": ROLLBACK_S,
                                                "grace_s": 6}}  # fmt: skip
    (twin.lms_dir / "lms.toml").write_text(toml_writer.dumps(config))
    twin.start_lms()
    twin.stop_agents()
    base = build_package("1.0.0")
    for agent_id in AGENTS:
        adir = twin.workdir / "agents" / agent_id
        root = adir / "install"
        Slots(root).seed("1.0.0", base)
        path = adir / "agent-upgradable.toml"
        path.write_text(toml_writer.dumps({**twin.agent_config(agent_id), "upgrade": {
            "root": str(root), "release_public_key": release.public, "restart_delay_s": 0.2}}))  # fmt: skip
        # run from the agent's directory: with the repository as the working directory, ``python -m edge.agent``
        # would import the repository's agent before the install slot's
        child = ChildProcess(
            f"agent {agent_id}", ["env", "-C", str(adir), sys.executable, "-m", "edge.agent.upgrade_supervisor",
                                  "--root", str(root), "--restart-delay", "0.5", "--config", str(path)],
            twin.workdir / "logs" / f"{agent_id}-supervised.log",
        ).start()
        twin.agents[agent_id] = child
        twin.lifecycle.on_stop(f"supervised {agent_id}", child.stop)

    def on_1_0_0() -> bool:
        agents = cloud(twin, f"/api/agents?site_id={twin.opt.site_id}")[1]["data"]["agents"]
        return {(a["agent_id"], a["status"], a.get("version")) for a in agents} == {
            (a, "online", "1.0.0") for a in AGENTS}

    try:
        wait_for("the agents online on 1.0.0 in the cloud", on_1_0_0, 90, watch=list(twin.agents.values()))
    except Exception:
        for agent_id in AGENTS:
            print(agent_id, twin.agents[agent_id].log_tail(30))
        raise


def cloud(twin: Twin, path: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
    return call(f"{twin.api_url}{path}", twin.admin_token, method, body)


def publish(twin: Twin, version: str, data: bytes) -> None:
    """Step 1 in the cloud: the package into the tenant's bucket, through the presigned form the API hands out."""
    status, body = cloud(twin, "/api/upgrades/packages", "POST", {"version": version})
    assert status == 201, body
    form = body["data"]["upload"]
    uploaded = requests.post(form["url"], data=form["fields"], files={"file": (f"{version}.tar.gz", data)},
                             timeout=30)  # fmt: skip
    assert uploaded.status_code in (200, 201, 204), uploaded.text


def run_campaign(twin: Twin, release: ReleaseKey, version: str, data: bytes) -> dict[str, Any]:
    status, body = cloud(twin, "/api/upgrades/campaigns", "POST", {
        "version": version, "sha256": sha256_of(data), "signature": release.sign(version, data),
        "site_ids": [twin.opt.site_id], "canary_percent": 10, "wave_size": 1})  # fmt: skip
    assert status == 201, body
    campaign_id = body["data"]["campaign_id"]

    def finished() -> dict[str, Any] | None:
        view: dict[str, Any] = cloud(twin, f"/api/upgrades/campaigns/{campaign_id}")[1]["data"]
        return view if view["state"] not in ("running", "cancelling") else None

    done: dict[str, Any] = eventually(finished, 300, what=f"the campaign to {version} finished in the cloud")
    return done


def test_a_campaign_started_in_the_cloud_upgrades_the_sites_agents_in_waves(twin: Twin, release: ReleaseKey) -> None:
    package = build_package("1.1.0")
    publish(twin, "1.1.0", package)
    done = run_campaign(twin, release, "1.1.0", package)
    assert done["state"] == "succeeded", done
    (site,) = done["sites"]
    assert site["site_id"] == twin.opt.site_id and site["state"] == "succeeded" and site["lms_campaign_id"]
    assert {(a["agent_id"], a["wave"], a["state"], a["from_version"], a["version"]) for a in done["agents"]} == {
        ("up-1", 0, "upgraded", "1.0.0", "1.1.0"), ("up-2", 1, "upgraded", "1.0.0", "1.1.0"),
        ("up-3", 2, "upgraded", "1.0.0", "1.1.0")}
    # the LMS ran it as its own campaign, by the cloud's caller, from its own verified cache
    lms_campaign = twin.lms_api(f"/api/upgrades/campaigns/{site['lms_campaign_id']}", twin.lms_token)["data"]
    assert lms_campaign["state"] == "succeeded" and lms_campaign["created_by"].startswith("cloud:")
    packages = twin.lms_api("/api/upgrades/packages", twin.lms_token)["data"]["packages"]
    assert [(p["version"], p["sha256"]) for p in packages] == [("1.1.0", sha256_of(package))]
    # every agent's version in the cloud's registry
    eventually(lambda: {a["agent_id"]: a.get("version") for a in cloud(
        twin, f"/api/agents?site_id={twin.opt.site_id}")[1]["data"]["agents"]} == dict.fromkeys(AGENTS, "1.1.0"),
        30, what="the new versions in the cloud's registry")  # fmt: skip
    listed = cloud(twin, "/api/upgrades/campaigns")[1]["data"]["campaigns"]
    assert [(c["campaign_id"], c["state"]) for c in listed] == [(done["campaign_id"], "succeeded")]
    audit = cloud(twin, "/api/audit?limit=500")[1]["data"]["entries"]
    assert sorted((e["action"], e["status"]) for e in audit if e["action"].startswith("upgrade.")) == [
        ("upgrade.campaign", 201), ("upgrade.package", 201)]


def test_a_version_that_never_comes_online_rolls_back_and_the_cloud_shows_it(twin: Twin,
                                                                            release: ReleaseKey) -> None:  # fmt: skip
    broken = build_package("1.2.0", broken=True)
    publish(twin, "1.2.0", broken)
    done = run_campaign(twin, release, "1.2.0", broken)
    assert done["state"] == "failed", done
    (site,) = done["sites"]
    assert site["state"] == "failed" and "rolled_back" in (site["detail"] or "")
    states = {a["agent_id"]: (a["state"], a["version"]) for a in done["agents"]}
    assert states == {"up-1": ("rolled_back", "1.1.0"), "up-2": ("cancelled", "1.1.0"),
                      "up-3": ("cancelled", "1.1.0")}  # fmt: skip
    assert done["agent_states"] == {"rolled_back": 1, "cancelled": 2}
    # the canary is back online on its previous version by itself
    eventually(lambda: cloud(twin, "/api/agents/up-1")[1]["data"].get("version") == "1.1.0", 30,
               what="up-1 on 1.1.0 in the cloud")  # fmt: skip


def test_a_campaign_started_while_the_lms_is_offline_runs_when_it_is_back(twin: Twin, release: ReleaseKey) -> None:
    """The order waits in the cloud and goes again after the LMS's heartbeats (its IoT session gone meanwhile, so
    IoT Core holds nothing for it)."""
    assert twin.lms is not None
    twin.lms.stop()
    with open(twin.lms_dir / "lms.toml", "rb") as handle:  # the twin's, with [upgrades]
        current = tomllib.load(handle)
    config = {**current, "cloud": {**current["cloud"], "session_expiry_s": 0}}
    (twin.lms_dir / "lms.toml").write_text(toml_writer.dumps(config))
    twin.start_lms()
    eventually(lambda: (twin.lms_api("/api/health")["data"].get("cloud") or {}).get("connected"), 60,
               what="the LMS linked without a persistent session")  # fmt: skip
    assert twin.lms is not None
    twin.lms.stop()  # offline: nothing is queued for it

    package = build_package("1.3.0")
    publish(twin, "1.3.0", package)
    status, body = cloud(twin, "/api/upgrades/campaigns", "POST", {
        "version": "1.3.0", "sha256": sha256_of(package), "signature": release.sign("1.3.0", package),
        "site_ids": [twin.opt.site_id], "wave_size": 5})  # fmt: skip
    assert status == 201 and body["data"]["sites"][0]["state"] == "ordered", body
    campaign_id = body["data"]["campaign_id"]
    twin.start_lms()

    def finished() -> dict[str, Any] | None:
        view: dict[str, Any] = cloud(twin, f"/api/upgrades/campaigns/{campaign_id}")[1]["data"]
        return view if view["state"] not in ("running", "cancelling") else None

    done: dict[str, Any] = eventually(finished, 300, what="the campaign finished after the LMS came back")
    assert done["state"] == "succeeded", done
    assert {a["version"] for a in done["agents"]} == {"1.3.0"}
    sends = (twin.workdir / "logs" / "cloud.log").read_text(errors="replace").count(
        f"order upgrade#{campaign_id} sent to site {twin.opt.site_id}")
    assert sends >= 2  # once when started (nobody listening), again after the LMS's heartbeats
