"""A command's end feeds the failure-rate alerts of the agent it was for — an agent the LMS knows. Found by the
LMS's schemathesis run (issue 17): ``POST /api/clients/{uuid}/command`` to a ``{uuid}`` no agent has (``0.5``,
``null,null``, ``\\x84``) ended ``unknown_agent`` (or earlier, refused by policy or for its params), the router
told the alert evaluator, and the evaluator raised building an alert target from an id that is no agent id (a
traceback in the LMS's log per command); a well-formed made-up id opened an alert for an agent that does not exist
and kept a result list for it (memory an operator could grow with made-up ids)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from edge.lms.agents import Registry
from edge.lms.alerts import ActiveRule, AlertEvaluator, SiteLabels
from edge.lms.commands import CommandLog, Router
from edge.lms.store import Store
from shared.errors import ErrorCode
from shared.messages import Presence, Status, encode
from shared.messages.alert import AlertRecord, AlertRule, CommandFailureRateCondition
from shared.mqtt import IncomingMessage, MqttClient, MqttSettings
from tests.fixtures.clock import Clock


class Sink:
    def __init__(self) -> None:
        self.records: list[AlertRecord] = []

    def alert_changed(self, record: AlertRecord, *, notify: bool) -> None:
        self.records.append(record)


def test_only_a_known_agents_commands_count_toward_its_failure_rate(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store(tmp_path / "lms.db").open()
    registry = Registry(store, presence_timeout_s=30)
    status = Status(state=Presence.OFFLINE, timestamp=1.0, reason="stop")
    registry.handle(IncomingMessage("ct/agent/pc-1/up/status", encode(status), 1, True))
    sink = Sink()
    evaluator = AlertEvaluator(sink, SiteLabels(store), site_id="school-1", clock=Clock())
    cond = CommandFailureRateCondition(window_s=3600, min_commands=1, rate=0.5, clear_rate=0.25)
    evaluator.set_rules([ActiveRule(AlertRule(rule_id="cmd", name="cmd", condition=cond), "site")])
    journal = CommandLog(store).start()
    router = Router(MqttClient(MqttSettings(host="127.0.0.1", port=1, client_id="lms-test")), registry, journal,
                    default_timeout_s=5)  # fmt: skip
    router.exec_policy = "disabled"
    router.finish_listeners.append(evaluator.on_command)
    router.start()
    try:
        with caplog.at_level(logging.WARNING):
            for agent_id in ("0.5", "null,null", "\x84", "ghost-1"):
                ended = [router.dispatch(agent_id, "ping").future.result(5),  # unknown agent
                         router.dispatch(agent_id, "exec", {"cmd": "true"}).future.result(5),  # policy, first
                         router.dispatch(agent_id, "ping", {"nope": 1}).future.result(5)]  # params, first  # fmt: skip
                assert [r.success for r in ended] == [False] * 3, agent_id
                assert ended[0].error_code is ErrorCode.UNKNOWN_AGENT
            assert not [r for r in caplog.records if r.exc_info is not None]
            assert sink.records == []  # no alert for an agent that does not exist
            # a known agent's failures still count: pc-1 is offline, its ping fails and its alert opens
            assert router.dispatch("pc-1", "ping").future.result(5).error_code is ErrorCode.AGENT_OFFLINE
            assert [(r.target.agent_id, r.state.value) for r in sink.records] == [("pc-1", "firing")]
    finally:
        router.stop()
        journal.stop()
        store.close()
