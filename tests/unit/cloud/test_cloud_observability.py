"""The cloud functions' structured logs and EMF metrics (chalicelib/observability.py, aws-lambda-powertools): a
handler's line is one JSON object with the command id, tenant, site and agent as keys; the metrics are EMF."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from chalicelib import observability
from chalicelib.services.commands import CommandService
from shared.log_format import CONTEXT_KEYS
from shared.topics import site_thing_name
from tests.unit.cloud.cloud_testkit import NS, Cloud, iot_client, online
from tests.unit.json_logs import json_logs as app_json_logs

LAMBDA_ENV = {"AWS_LAMBDA_FUNCTION_NAME": "classtop-fn", "CLASSTOP_TENANT": NS.tenant, "CLASSTOP_STAGE": NS.stage,
              observability.APP_METRICS_ENV: "on"}


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """The app's loggers through powertools' JSON Logger, as in Lambda, into a buffer."""
    with app_json_logs(LAMBDA_ENV) as stream:
        yield stream


def entries(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def emf(stdout: str) -> list[dict[str, Any]]:
    """The EMF documents among stdout's lines."""
    documents = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    return [d for d in documents if "_aws" in d]


def metric_sums(documents: Iterable[dict[str, Any]]) -> dict[str, float]:
    sums: dict[str, float] = {}
    for document in documents:
        for definition in document["_aws"]["CloudWatchMetrics"]:
            for metric in definition["Metrics"]:
                value = document[metric["Name"]]
                sums[metric["Name"]] = sums.get(metric["Name"], 0) + sum(value if isinstance(value, list) else [value])
    return sums


def test_a_rule_handlers_hop_line_is_json_with_the_command_tenant_site_and_agent(
        cloud: Cloud, json_logs: io.StringIO, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    cloud.heartbeat("s1", [online("a1")])
    created = cloud.post("/api/commands", {"agent_id": "a1", "command": "ping", "params": {}})
    assert created.status_code == 202, created.json_body
    command_id = created.json_body["data"]["command_id"]

    # a hop's line as the services write it: the command and the agent as the record's extras
    apply_results = CommandService.apply_results

    def logging_apply_results(self: CommandService, site_id: str, results: Any) -> Any:
        results = list(results)
        for result in results:
            logging.getLogger("chalicelib.services.commands").info(
                "result %s", result.status, extra={"command_id": result.request_id, "agent_id": result.agent_id})
        return apply_results(self, site_id, results)

    monkeypatch.setattr(CommandService, "apply_results", logging_apply_results)
    cloud.results("s1", [{"request_id": command_id, "agent_id": "a1", "status": "succeeded", "success": True}])

    [hop] = [e for e in entries(json_logs) if e["message"] == "result succeeded"]
    assert {key: hop[key] for key in CONTEXT_KEYS} == {
        "command_id": command_id, "tenant": NS.tenant, "site_id": "s1", "agent_id": "a1"}
    assert hop["stage"] == NS.stage and hop["service"] == observability.SERVICE
    assert hop["level"] == "INFO" and hop["name"] == "chalicelib.services.commands"
    assert hop["function_request_id"] and isinstance(hop["cold_start"], bool)

    # the metrics: EMF lines on stdout, one per invocation that counted something
    documents = emf(capsys.readouterr().out)
    sums = metric_sums(documents)
    assert sums[observability.Metric.COMMANDS_SENT] == 1
    assert sums[observability.Metric.AGENT_COMMANDS_SUCCEEDED] == 1
    for document in documents:
        [definition] = document["_aws"]["CloudWatchMetrics"]
        assert definition["Namespace"] == observability.METRICS_NAMESPACE
        assert set(definition["Dimensions"][0]) == {"service", "tenant", "stage"}
        assert (document["tenant"], document["stage"]) == (NS.tenant, NS.stage)


def test_an_api_line_carries_the_routes_agent_and_the_invocation(cloud: Cloud, json_logs: io.StringIO) -> None:
    cloud.heartbeat("s1", [online("a1")])
    iot_client().create_thing(thingName=site_thing_name(NS, "s1"))
    response = cloud.put("/api/agents/a1/settings", {"settings": {"volume": 30}}, role="operator")
    assert response.status_code == 200, response.json_body

    [line] = [e for e in entries(json_logs) if "desired volume" in e["message"]]
    assert (line["agent_id"], line["tenant"], line["stage"]) == ("a1", NS.tenant, NS.stage)
    assert line["function_request_id"]  # Lambda's; API Gateway adds its request id as correlation_id
    assert "site_id" not in line  # not in this route's path, and never left over from another invocation


def test_a_dropped_rule_event_is_logged_with_its_site_and_counted(
        cloud: Cloud, json_logs: io.StringIO, capsys: pytest.CaptureFixture[str]) -> None:
    answer = cloud.invoke("site_heartbeat", {"type": "site_heartbeat", "v": 1, "site_id": "s1", "bogus": 1})
    assert answer["ok"] is False

    [line] = [e for e in entries(json_logs) if "dropped event" in e["message"]]
    assert line["level"] == "WARNING" and line["tenant"] == NS.tenant
    assert metric_sums(emf(capsys.readouterr().out)) == {observability.Metric.RULE_EVENTS_DROPPED: 1}


def test_outside_lambda_logging_and_metrics_stay_off(capsys: pytest.CaptureFixture[str]) -> None:
    assert not observability.configure({})
    assert not observability.configure({**LAMBDA_ENV, observability.LOG_FORMAT_ENV: "text"})
    assert logging.getLogger("chalicelib").propagate and not logging.getLogger("chalicelib").handlers
    observability.count(observability.Metric.COMMANDS_SENT)
    observability.flush()
    assert capsys.readouterr().out == ""


def test_without_the_dashboard_the_lines_stay_json_and_no_metric_is_written(
        cloud: Cloud, capsys: pytest.CaptureFixture[str]) -> None:
    """Metrics off (the template's default, no dashboard to plot them): the dropped event is still logged as
    JSON with its site (what the failures alarm and Logs Insights read), but no EMF document is written."""
    with app_json_logs({**LAMBDA_ENV, observability.APP_METRICS_ENV: "off"}) as stream:
        answer = cloud.invoke("site_heartbeat", {"type": "site_heartbeat", "v": 1, "site_id": "s1", "bogus": 1})
        assert answer["ok"] is False
        assert [e for e in entries(stream) if "dropped event" in e["message"]]
    assert emf(capsys.readouterr().out) == []
