"""Issue 19, "Install", on the local twin: a new PC gets the agent from its wheel (fresh venv, ``classtop-agent
install`` + ``enrol`` with the fingerprint the LMS showed), and the installed service is then an agent of all three
tiers — the cloud lists it and a command from the cloud API reaches it through IoT Core and the LMS and back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infra import agent_package
from infra.local.twin import Twin
from tests.fixtures.twin_calls import cloud, eventually
from tests.integration.enrollment.agent_venv import InstalledAgent, Machine, make_venv

pytestmark = pytest.mark.e2e

AGENTS = ("pc-a",)  # the twin's own agent (tests/e2e/conftest.py); the installed one joins beside it
NEW = "room-12-pc"


def _cloud(twin: Twin, method: str, path: str, body: Any = None) -> Any:
    status, answer = cloud(twin, method, path, body)
    assert status < 400, (status, answer)
    return answer


def test_an_installed_agent_enrols_and_serves_the_cloud(twin: Twin, tmp_path: Path) -> None:
    bin_dir = make_venv(tmp_path, agent_package.build(tmp_path / "dist"))
    machine = Machine(bin_dir, tmp_path / "pc")
    machine.install(NEW)
    answer = twin.lms_api("/api/enrollment-tokens", twin.lms_token, body={"max_uses": 1, "note": "new PC"})
    token, ca_hash = answer["data"]["token"], answer["data"]["ca_hash"]
    done = machine.enrol(twin.lms_url, token, "--ca-hash", ca_hash, "--yes")
    assert done.returncode == 0, done.stderr

    agent = InstalledAgent(machine)
    agent.start()
    try:
        def listed() -> bool:
            items = _cloud(twin, "GET", f"/api/agents?site_id={twin.opt.site_id}")["data"]["agents"]
            return any(a["agent_id"] == NEW and a.get("status") == "online" for a in items)

        eventually(listed, 60, f"the cloud to list {NEW} online")
        created = _cloud(twin, "POST", "/api/commands", {"agent_id": NEW, "command": "get_all_settings"})
        command_id = created["data"]["command_id"]

        def finished() -> dict[str, Any] | None:
            record: dict[str, Any] = _cloud(twin, "GET", f"/api/commands/{command_id}")["data"]
            return record if record["status"] != "pending" else None

        record = eventually(finished, 60, "the command's result")
        assert record["status"] == "succeeded", record
    finally:
        assert agent.stop() == 0, agent.output()[-3000:]
