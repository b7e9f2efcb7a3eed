"""Back up and restore with real processes: a real LMS (dynamic security, its broker's ``state_file``), real
agents that enrolled, and a real Mosquitto. ``backup`` runs while everything runs; then the site is lost (the
LMS's data directory deleted, the broker's data emptied), ``restore`` puts the archive onto a fresh data
directory, and the restored LMS serves the same agents without re-enrolment: their broker credentials and roles
(the restored dynamic-security file) and the site CA they pinned are the same."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.lms.cli import EXIT_OK
from infra.local.ports import free_port
from tests.integration.enrollment.agent_proc import AgentProc
from tests.integration.enrollment.conftest import ADMIN_USER, LMS_USER, DynsecBroker
from tests.integration.lms.lms_harness import REPO, LmsProcess, eventually, lms_config_text

pytestmark = pytest.mark.integration


def _lms(workdir: Path, text: str, broker: DynsecBroker) -> LmsProcess:
    process = LmsProcess(workdir, text, broker.passwords[LMS_USER])
    process.env["CLASSTOP_LMS_DYNSEC_PASSWORD"] = broker.admin_password
    return process


def _cli(process: LmsProcess, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge.lms", "--config", str(config), *args], cwd=REPO,
                          env=process.env, capture_output=True, text=True, timeout=60)  # fmt: skip


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[list[AgentProc]]:
    made: list[AgentProc] = []
    yield made
    for agent in made:
        agent.kill()
        print(f"--- {agent.agent_id}\n{agent.output()[-3000:]}")


def test_a_backup_restored_onto_a_fresh_data_directory_serves_the_same_agents_without_re_enrolment(
    dynsec_broker: DynsecBroker, tmp_path: Path, agents: list[AgentProc]
) -> None:
    broker_data = dynsec_broker.process.dynsec_file.parent
    old_dir, new_dir, archive = tmp_path / "old", tmp_path / "new", tmp_path / "site-backup.tar.gz"
    old_dir.mkdir()
    text = lms_config_text(site_broker=dynsec_broker, cloud_port=None, http_port=free_port(), db_path=Path("lms.db"),
                           settings={"presence_timeout_s": 120})  # fmt: skip
    text += (f'\n[site_broker.dynsec]\nusername = "{ADMIN_USER}"\ntimeout_s = 5\nadvertise_tls = false\n'
             f'state_file = "{dynsec_broker.process.dynsec_file}"\n')  # fmt: skip
    old = _lms(old_dir, text, dynsec_broker)
    with old.running():
        r = old.http.post("/api/enrolment-tokens", json={"ttl_s": 600, "max_uses": 2, "note": "test"})
        token, ca_hash = r.json()["data"]["token"], old.http.get("/api/enrolment-tokens").json()["data"]["ca_hash"]
        for agent_id in ("room-1", "room-2"):
            agents.append(AgentProc(tmp_path / agent_id, agent_id, old.base_url, ca_hash).start(token))
        old.wait_agents("room-1", "room-2", timeout=20)
        credentials = {a.agent_id: a.credentials_path.read_bytes() for a in agents}

        made = _cli(old, old.config_path, "backup", str(archive))  # online: the LMS and the broker run
        assert made.returncode == EXIT_OK, made.stderr
        assert "broker state included" in made.stderr
    print(old.log()[-3000:])

    # The site is lost: the LMS's data directory, and the broker's data (its dynsec file, its persistence).
    shutil.rmtree(old_dir)
    dynsec_broker.process.stop()
    for path in broker_data.iterdir():
        path.unlink()

    new_dir.mkdir()
    refused = _cli(old, new_dir / "lms.toml", "restore", str(tmp_path / "nothing.tar.gz"))
    assert refused.returncode != EXIT_OK and "no backup at" in refused.stderr
    done = _cli(old, new_dir / "lms.toml", "restore", str(archive))  # the broker is stopped, as it must be
    assert done.returncode == EXIT_OK, done.stderr
    dynsec_broker.process.start()

    new = _lms(new_dir, (new_dir / "lms.toml").read_text(), dynsec_broker)
    with new.running():
        new.wait_agents("room-1", "room-2", timeout=30)
        for agent_id in ("room-1", "room-2"):  # presence is remembered: a command there and back proves it

            def answers(a: str = agent_id) -> Any:
                return new.command(a, "ping").json().get("success")

            eventually(answers, 30, what=f"{agent_id} answers")
        assert new.http.get("/api/enrolment-tokens").json()["data"]["ca_hash"] == ca_hash  # the CA they pinned
        listing = new.http.get("/api/enrolment-tokens").json()["data"]
        assert [e["agent_id"] for e in listing["enrollments"]] == ["room-1", "room-2"]
        again = _cli(new, new.config_path, "restore", "--force", str(archive))
        assert again.returncode != EXIT_OK and "stop the LMS first" in again.stderr
        print(new.log()[-3000:])
    for agent in agents:  # the same credentials, and no second enrolment
        assert agent.credentials_path.read_bytes() == credentials[agent.agent_id]
        assert agent.output().count("enrolled with") == 1
        assert json.loads(agent.credentials_path.read_text())["username"] == agent.agent_id
