"""``[log] format = "json"``: the real agent writes one JSON object per line, to its log file and to stderr,
each carrying its ``agent_id``; ``get_logs`` serves them (filtered by level) like text lines."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from shared.messages import Response, Status, decode
from shared.topics import AgentUp, agent_down, agent_up
from tests.fixtures.agents import AGENT, AgentProc, broker_agent_env, running_agent
from tests.fixtures.brokers import Broker

pytestmark = pytest.mark.integration


def test_the_agent_logs_json_lines_with_its_id(site_broker: Broker, tmp_path: Path) -> None:
    config = (f'agent_id = "{AGENT}"\nstate_dir = "state"\nstop_wait_s = 3\n'
              f'[mqtt]\nhost = "{site_broker.host}"\nport = {site_broker.port}\nreconnect_max_s = 1\n'
              '[log]\nlevel = "DEBUG"\nformat = "json"\n')
    agent = AgentProc(tmp_path, config, env=broker_agent_env(site_broker))
    lms = site_broker.client("lms")
    lms.subscribe(f"ct/agent/{AGENT}/up/#")
    with running_agent(agent):
        status = decode(Status, lms.wait_for(agent_up(AGENT, AgentUp.STATUS), timeout=20).payload)
        assert status.state == "online"
        command = {"type": "command", "request_id": "logs-1", "command": "get_logs",
                   "params": {"lines": 50, "level": "INFO"}}
        lms.publish(agent_down(AGENT), json.dumps(command))
        answer = decode(Response, lms.wait_for(agent_up(AGENT, AgentUp.RESPONSE), timeout=20).payload)
        time.sleep(0.2)
    assert answer.success, answer.error

    files = [json.loads(line) for line in (tmp_path / "state" / "logs" / "agent.log").read_text().splitlines()]
    stderr = [json.loads(line) for line in agent.output().splitlines() if line.strip()]  # every line is JSON
    assert files and stderr
    for entry in (*files, *stderr):
        assert entry["agent_id"] == AGENT and entry["service"] == "classtop-agent"
        assert entry["level"] in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
    assert any(entry["level"] == "DEBUG" for entry in files)
    served = [json.loads(line) for line in answer.data["lines"]]
    assert served and all(entry["level"] != "DEBUG" for entry in served)
