"""The LMS's session on the site broker outlives the LMS (issue 17): what agents publish at QoS 1 while the LMS is
down (killed, restarting) waits in the broker and reaches the restarted LMS. The chaos run lost the agents' progress
events (``command.state`` ``running``) of the commands that ran across an LMS kill this way."""

from __future__ import annotations

import json
import signal
import time
from typing import Any

import pytest

from edge.lms.config.broker_settings import SiteBrokerSettings
from shared import topics
from shared.topics import AgentUp
from tests.integration.lms.lms_harness import AgentFactory, LmsFactory, eventually

pytestmark = pytest.mark.integration


def event(kind: str, n: int) -> bytes:
    body = {"type": "event", "timestamp": time.time(), "kind": kind, "severity": "info", "message": f"#{n}",
            "data": {"n": n}}  # fmt: skip
    return json.dumps(body).encode()


def stored(lms: Any) -> list[str]:
    page = lms.http.get("/api/events", params={"limit": 100})
    assert page.status_code == 200, page.text
    return sorted(e["message"] for e in page.json()["data"]["events"] if e["kind"] == "while.away")


def test_events_an_agent_sends_while_the_lms_is_killed_reach_it_after_its_restart(
    lms_factory: LmsFactory, agents: AgentFactory
) -> None:
    lms = lms_factory().start()
    agent = agents("agent-1").start()
    lms.wait_agent("agent-1")
    lms.stop(signal.SIGKILL)
    for n in range(5):  # the broker acknowledges each (PUBACK) while the LMS is away
        info = agent.client.publish(topics.agent_up("agent-1", AgentUp.EVENT), event("while.away", n), qos=1)
        info.wait_for_publish(5)
        assert info.is_published()
    lms.start()
    eventually(lambda: len(stored(lms)) == 5, what=f"the 5 events sent while away (have {stored(lms)})")
    assert stored(lms) == [f"#{n}" for n in range(5)]


def test_the_site_session_is_persistent_by_default_and_the_dynsec_admin_stays_clean() -> None:
    settings = SiteBrokerSettings()
    assert settings.session_expiry_s > 0
    assert SiteBrokerSettings(session_expiry_s=0).session_expiry_s == 0  # a site may still choose a clean one
    admin = SiteBrokerSettings.model_validate({"dynsec": {"username": "admin", "password": "pw"}}).dynsec_admin()
    assert admin.session_expiry_s == 0  # a request/response connection: nothing to keep while away


def test_an_event_the_lms_received_but_had_not_written_when_killed_reaches_it_after_its_restart(
    lms_factory: LmsFactory, agents: AgentFactory
) -> None:
    """The LMS writes events in batches (``BATCH_DELAY_S``, 0.5 s): the site broker's acknowledgement of an event is
    held until it is written, so a kill -9 in that window leaves it with the broker, which delivers it again."""
    lms = lms_factory().start()
    agent = agents("agent-1").start()
    lms.wait_agent("agent-1")
    info = agent.client.publish(topics.agent_up("agent-1", AgentUp.EVENT), event("while.away", 0), qos=1)
    info.wait_for_publish(5)
    time.sleep(0.1)  # the LMS has it now, waiting for the rest of its batch
    lms.stop(signal.SIGKILL)
    lms.start()
    eventually(lambda: stored(lms) == ["#0"], what=f"the event the killed LMS held (have {stored(lms)})")
