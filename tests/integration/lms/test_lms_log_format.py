"""``[log] format = "json"``: the LMS process writes one JSON object per line, with its tenant and site."""

from __future__ import annotations

import json

import pytest

from tests.integration.lms.lms_harness import AgentFactory, LmsFactory

pytestmark = pytest.mark.integration


def test_lms_logs_json_lines_with_its_tenant_and_site(lms_factory: LmsFactory, agents: AgentFactory) -> None:
    lms = lms_factory(settings={"log": {"format": "json"}}).start()
    agents("agent-1").start()
    lms.wait_agent("agent-1", "online")
    assert lms.command("agent-1", "ping").status_code == 200
    assert lms.stop() == 0

    lines = [line for line in lms.log().splitlines() if line.strip()]
    assert lines, "the LMS logged nothing"
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    for entry in entries:
        assert entry["service"] == "classtop-lms"
        assert (entry["tenant"], entry["stage"], entry["site_id"]) == ("demo", "dev", "school-1")
        assert entry["level"] in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
    assert any("agent-1" in entry["message"] or entry.get("agent_id") == "agent-1" for entry in entries)
