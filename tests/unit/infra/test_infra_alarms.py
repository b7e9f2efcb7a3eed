"""The tenant stack's alarms and operations dashboard, evaluated for one tenant stage as CloudFormation would
(infra/aws/cfn_eval.py): every function, topic rule and table has its alarm on the right metric and dimensions,
every alarm notifies the tenant's topic, the e-mail subscription follows the ``AlarmEmail`` parameter, and the
dashboard shows every function, rule, table and alarm of the stack."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from infra.aws import cloud_app, dashboard, failures
from infra.aws.alarms import ALARM_EMAIL_SUBSCRIPTION, function_alarm_ids, rule_alarm_id, table_alarm_id
from infra.aws.cfn_eval import Resource, TemplateEval
from infra.aws.deploy import main as deploy_main
from infra.aws.root import rule_logical_id
from infra.aws.rules import RULES
from shared.names import Namespace, rule_name
from tests.unit.infra import stack_templates
from tests.unit.infra.stack_templates import ACCOUNT, REGION, STAGE, TENANT, data_plane_of, evaluate

NS = Namespace(TENANT, STAGE)
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:classtop--{TENANT}--{STAGE}--notifications"


@pytest.fixture(scope="module")
def stack() -> TemplateEval:
    return evaluate()


@pytest.fixture(scope="module")
def resources(stack: TemplateEval) -> dict[str, Resource]:
    return {r.logical_id: r for r in stack.resources()}


def alarms_of(resources: dict[str, Resource]) -> dict[str, Resource]:
    return {lid: r for lid, r in resources.items() if r.type == "AWS::CloudWatch::Alarm"}


def table_names(stack: TemplateEval) -> dict[str, str]:
    """Aggregate (from the table's logical id) -> evaluated table name."""
    return {r.logical_id.removesuffix("Table"): r.name for r in data_plane_of(stack).resources()
            if r.type == "AWS::DynamoDB::Table"}


def test_every_alarm_notifies_the_tenants_topic_at_the_first_event(resources: dict[str, Resource]) -> None:
    found = alarms_of(resources)
    assert len(found) == 2 * len(cloud_app.functions()) + len(RULES) + len(cloud_app.models()) + 2
    for lid, alarm in found.items():
        props = alarm.properties
        assert props["AlarmActions"] == [TOPIC_ARN], lid
        assert alarm.name.startswith(f"classtop--{TENANT}--{STAGE}--"), lid
        assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold" and props["EvaluationPeriods"] == 1
        assert props["TreatMissingData"] == "notBreaching"
    assert len({a.name for a in found.values()}) == len(found)  # CloudWatch names are unique per account


def test_every_function_has_an_errors_and_a_throttles_alarm_on_its_own_name(resources: dict[str, Resource]) -> None:
    for function in cloud_app.functions():
        name = resources[function.logical_id].name  # its FunctionName, or the one CloudFormation generates
        errors, throttles = (resources[lid].properties for lid in function_alarm_ids(function))
        for props, metric in ((errors, "Errors"), (throttles, "Throttles")):
            assert (props["Namespace"], props["MetricName"], props["Statistic"]) == ("AWS/Lambda", metric, "Sum")
            assert props["Dimensions"] == [{"Name": "FunctionName", "Value": name}]
            assert props["Period"] == 300 and props["Threshold"] == 1


def test_every_topic_rule_has_a_failures_alarm_querying_its_own_rule(resources: dict[str, Resource]) -> None:
    for rule in RULES:
        props = resources[rule_alarm_id(rule)].properties
        [query] = props["Metrics"]
        evaluated_rule = resources[rule_logical_id(rule)].name
        assert evaluated_rule == rule_name(NS, rule.name)  # classtop__district_a__prod__<rule>
        assert query["Expression"] == ('SELECT SUM(Failure) FROM SCHEMA("AWS/IoT", ActionType, RuleName) '
                                       f"WHERE RuleName = '{evaluated_rule}'")
        assert query["ReturnData"] is True and query["Period"] == 300
        assert "MetricName" not in props and "Namespace" not in props


def test_every_table_has_a_throttling_alarm_on_its_reads_and_writes(stack: TemplateEval,
                                                                    resources: dict[str, Resource]) -> None:
    names = table_names(stack)
    assert len(names) == len(cloud_app.models())
    for model in cloud_app.models():
        props = resources[table_alarm_id(model.AGGREGATE)].properties
        stats = {m["Id"]: m["MetricStat"] for m in props["Metrics"] if "MetricStat" in m}
        [expression] = [m for m in props["Metrics"] if "Expression" in m]
        table = cloud_app.table_name(model.AGGREGATE, TENANT, STAGE)
        assert {s["Metric"]["MetricName"] for s in stats.values()} == {"ReadThrottleEvents", "WriteThrottleEvents"}
        for stat in stats.values():
            assert stat["Metric"]["Namespace"] == "AWS/DynamoDB" and stat["Stat"] == "Sum"
            assert stat["Metric"]["Dimensions"] == [{"Name": "TableName", "Value": table}]
        assert set(stats) == {"read", "write"} and expression["ReturnData"] is True
        assert expression["Expression"] == "FILL(read, 0) + FILL(write, 0)"
        assert table in names.values()


def test_the_queue_and_api_alarms_keep_their_metrics(resources: dict[str, Resource]) -> None:
    queue = resources[failures.FAILED_EVENTS_ALARM].properties
    assert (queue["Namespace"], queue["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert queue["Dimensions"] == [{"Name": "QueueName", "Value": resources[failures.FAILED_EVENTS_QUEUE].name}]
    api = resources[failures.API_ERRORS_ALARM].properties
    assert api["Dimensions"] == [{"Name": "ApiName", "Value": f"classtop--{TENANT}--{STAGE}--api"},
                                 {"Name": "Stage", "Value": cloud_app.api_gateway_stage()}]
    assert api["Threshold"] == failures.API_ERRORS_THRESHOLD


def test_the_email_subscription_exists_only_when_an_address_is_given() -> None:
    assert ALARM_EMAIL_SUBSCRIPTION not in {r.logical_id for r in evaluate().resources()}  # the default: none

    with_email = evaluate(parameters={"AlarmEmail": "ops@district-a.example"})
    [subscription] = [r for r in with_email.resources() if r.logical_id == ALARM_EMAIL_SUBSCRIPTION]
    assert subscription.type == "AWS::SNS::Subscription"
    assert subscription.properties == {"TopicArn": TOPIC_ARN, "Protocol": "email",
                                       "Endpoint": "ops@district-a.example"}
    pattern = stack_templates.load("template.yaml")["Parameters"]["AlarmEmail"]["AllowedPattern"]
    assert re.fullmatch(pattern, "") and re.fullmatch(pattern, "ops@district-a.example")
    assert not re.fullmatch(pattern, "not an address") and not re.fullmatch(pattern, "ops@")


def test_the_deploy_tool_refuses_a_malformed_alarm_address(capsys: pytest.CaptureFixture[str]) -> None:
    code = deploy_main(["tenant", "update", "--tenant", "t", "--alarm-email", "not an address"])
    assert code == 2 and "--alarm-email" in capsys.readouterr().err


def widgets(resources: dict[str, Resource]) -> list[dict[str, Any]]:
    board = resources[dashboard.DASHBOARD]
    assert board.type == "AWS::CloudWatch::Dashboard" and board.name == f"classtop--{TENANT}--{STAGE}"
    found: list[dict[str, Any]] = json.loads(board.properties["DashboardBody"])["widgets"]
    return found


def metric_rows(found: list[dict[str, Any]]) -> list[list[Any]]:
    return [row for w in found if w["type"] == "metric" for row in w["properties"]["metrics"] if isinstance(row, list)]


def test_the_dashboard_shows_every_function_rule_table_and_alarm(stack: TemplateEval,
                                                                 resources: dict[str, Resource]) -> None:
    found = widgets(resources)
    rows = metric_rows(found)
    for w in found:
        if w["type"] == "metric":
            assert w["properties"]["region"] == REGION
    functions = {resources[f.logical_id].name for f in cloud_app.functions()}
    for metric in ("Invocations", "Errors", "Throttles", "Duration"):
        assert {r[3] for r in rows if r[:3] == ["AWS/Lambda", metric, "FunctionName"]} == functions, metric
    tables = set(table_names(stack).values())
    for metric in ("ReadThrottleEvents", "WriteThrottleEvents"):
        assert {r[3] for r in rows if r[:3] == ["AWS/DynamoDB", metric, "TableName"]} == tables, metric
    rules = {rule_name(NS, rule.name) for rule in RULES}
    assert {r[3] for r in rows if r[:3] == ["AWS/IoT", "TopicMatch", "RuleName"]} == rules
    expressions = [row["expression"] for w in found if w["type"] == "metric"
                   for row in w["properties"]["metrics"] if isinstance(row, dict)]
    for rule in rules:
        assert any("MetricName=\"Failure\"" in e and f'RuleName="{rule}"' in e for e in expressions), rule
        assert any("MetricName=\"ErrorActionFailure\"" in e and f'RuleName="{rule}"' in e for e in expressions), rule
    assert ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName",
            resources[failures.FAILED_EVENTS_QUEUE].name] in rows
    app = [r for r in rows if r[0] == "ClassTopFleet"]
    assert {r[1] for r in app} == set(dashboard.APP_METRICS)
    assert all(r[2:] == ["service", "classtop-cloud", "tenant", TENANT, "stage", STAGE] for r in app)
    [alarm_widget] = [w for w in found if w["type"] == "alarm"]
    assert sorted(alarm_widget["properties"]["alarms"]) == sorted(
        f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{a.name}" for a in alarms_of(resources).values())


def test_the_dashboards_metrics_are_the_apps() -> None:
    from chalicelib.observability import METRICS_NAMESPACE, SERVICE, Metric

    assert set(dashboard.APP_METRICS) == {m.value for m in Metric}
    assert (METRICS_NAMESPACE, SERVICE) == ("ClassTopFleet", dashboard.APP_SERVICE)
