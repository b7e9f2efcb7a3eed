"""The tenant stack's alarms and operations dashboard, evaluated for one tenant stage as CloudFormation would
(infra/aws/cfn_eval.py): three alarms, each on one metric, all notifying the tenant's topic; every failure class
reaches one of them — every function's log group feeds the function-failures metric through its filters, every
topic rule's error action and every asynchronously invoked function's on-failure destination is the alarmed
failed-events queue, the API's 5xx its alarm; the e-mail subscription follows ``AlarmEmail``, the dashboard
``CloudWatchDashboard`` (off by default) and shows every function, rule, table and alarm of the stack."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from infra.aws import cloud_app, dashboard, failure_filters, failures, http_api
from infra.aws.alarms import ALARM_EMAIL_SUBSCRIPTION, FUNCTION_FAILURES_ALARM
from infra.aws.cfn_eval import Resource, TemplateEval
from infra.aws.deploy import _parser as deploy_parser
from infra.aws.deploy import main as deploy_main
from infra.aws.logs import function_log_group_id
from infra.aws.root import invoked_asynchronously, rule_logical_id
from infra.aws.rules import RULES
from infra.aws.tenants import Target, root_parameters
from shared.names import Namespace, rule_name
from tests.unit.infra import stack_templates
from tests.unit.infra.stack_templates import ACCOUNT, REGION, STAGE, TENANT, data_plane_of, evaluate

NS = Namespace(TENANT, STAGE)
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:classtop--{TENANT}--{STAGE}--notifications"
FAILURES_NAMESPACE = f"ClassTopFleet/classtop--{TENANT}--{STAGE}"
WITH_DASHBOARD = {dashboard.PARAMETER: "true"}


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


def watched(alarm: Resource) -> tuple[str, str, list[Any]]:
    """The one metric an alarm reads: namespace, name, dimensions."""
    props = alarm.properties
    assert "Metrics" not in props, "metric math: CloudWatch bills every metric it reads"
    return props["Namespace"], props["MetricName"], props.get("Dimensions", [])


def test_three_alarms_each_on_one_metric_notify_the_tenants_topic_at_the_first_event(
        resources: dict[str, Resource]) -> None:
    found = alarms_of(resources)
    assert set(found) == {FUNCTION_FAILURES_ALARM, failures.FAILED_EVENTS_ALARM, failures.API_ERRORS_ALARM}
    for lid, alarm in found.items():
        props = alarm.properties
        watched(alarm)
        assert props["AlarmActions"] == [TOPIC_ARN], lid
        assert alarm.name.startswith(f"classtop--{TENANT}--{STAGE}--"), lid
        assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold" and props["EvaluationPeriods"] == 1
        assert props["TreatMissingData"] == "notBreaching" and props["Period"] == 300
    assert len({a.name for a in found.values()}) == len(found)  # CloudWatch names are unique per account


def test_every_functions_log_group_feeds_the_alarmed_failures_metric(resources: dict[str, Resource]) -> None:
    """function -> its own log group -> both failure filters -> the metric -> the alarm (a function added to the
    app without its filters fails here)."""
    alarm = resources[FUNCTION_FAILURES_ALARM]
    assert watched(alarm) == (FAILURES_NAMESPACE, failure_filters.METRIC_NAME, [])
    assert alarm.properties["Statistic"] == "Sum" and alarm.properties["Threshold"] == 1
    filters = [r for r in resources.values() if r.type == "AWS::Logs::MetricFilter"]
    functions = cloud_app.functions()
    assert len(filters) == len(failure_filters.FILTERS) * len(functions)
    for function in functions:
        group = resources[function_log_group_id(function)]
        assert group.type == "AWS::Logs::LogGroup"
        logging_config = resources[function.logical_id].properties["LoggingConfig"]
        assert logging_config["LogGroup"] == group.name, function.name
        patterns = set()
        for lid in failure_filters.filter_ids(function):
            props = resources[lid].properties
            assert props["LogGroupName"] == group.name, lid
            [transformation] = props["MetricTransformations"]
            assert transformation == {"MetricNamespace": FAILURES_NAMESPACE,
                                      "MetricName": failure_filters.METRIC_NAME, "MetricValue": "1",
                                      "Unit": "Count"}, lid
            patterns.add(props["FilterPattern"])
        assert patterns == {p for *_, p in failure_filters.FILTERS}, function.name


def test_each_stage_counts_its_own_failures(resources: dict[str, Resource]) -> None:
    """A filter's metric has no dimension: the namespace carries the tenant stage, or two stages of one account
    would raise each other's alarm."""
    other = {r.logical_id: r for r in evaluate(tenant="district-b", stage=STAGE).resources()}
    assert watched(other[FUNCTION_FAILURES_ALARM])[0] == f"ClassTopFleet/classtop--district-b--{STAGE}"
    assert watched(other[FUNCTION_FAILURES_ALARM])[0] != watched(resources[FUNCTION_FAILURES_ALARM])[0]


def test_every_topic_rules_failure_reaches_the_failed_events_alarm(resources: dict[str, Resource]) -> None:
    """A rule that cannot invoke its function puts the message in the failed-events queue (its error action);
    a function invoked asynchronously puts a failed event there after Lambda's retries; the queue is alarmed."""
    queue = resources[failures.FAILED_EVENTS_QUEUE]
    assert watched(resources[failures.FAILED_EVENTS_ALARM]) == (
        "AWS/SQS", "ApproximateNumberOfMessagesVisible", [{"Name": "QueueName", "Value": queue.name}])
    for rule in RULES:
        topic_rule = resources[rule_logical_id(rule)]
        assert topic_rule.name == rule_name(NS, rule.name)
        error_action = topic_rule.properties["TopicRulePayload"]["ErrorAction"]["Sqs"]
        assert error_action["QueueUrl"] == f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{queue.name}", rule.name
    for function in cloud_app.functions():
        config = resources[function.logical_id].properties.get("EventInvokeConfig")
        if invoked_asynchronously(function):
            assert config["DestinationConfig"]["OnFailure"]["Destination"] == (
                f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue.name}"), function.name
        else:
            assert config is None  # the API's failures are 5xx answers: the API errors alarm


def test_the_queue_and_api_alarms_keep_their_metrics(resources: dict[str, Resource]) -> None:
    queue = resources[failures.FAILED_EVENTS_ALARM].properties
    assert (queue["Namespace"], queue["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert queue["Dimensions"] == [{"Name": "QueueName", "Value": resources[failures.FAILED_EVENTS_QUEUE].name}]
    api = resources[failures.API_ERRORS_ALARM].properties
    # an HTTP API's 5xx answers: "5xx" by ApiId (a REST API's "5XXError" by ApiName would never fire)
    assert (api["Namespace"], api["MetricName"]) == ("AWS/ApiGateway", "5xx")
    assert api["Dimensions"] == [{"Name": "ApiId", "Value": resources[http_api.HTTP_API].name},
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


def test_the_dashboard_exists_only_when_asked_for(resources: dict[str, Resource]) -> None:
    assert dashboard.DASHBOARD not in resources  # the default: none ($3 a month)
    template = stack_templates.load("template.yaml")
    assert template["Parameters"][dashboard.PARAMETER]["Default"] == "false"
    assert template["Outputs"]["DashboardName"]["Condition"] == dashboard.CONDITION
    assert dashboard.DASHBOARD in {r.logical_id for r in evaluate(parameters=WITH_DASHBOARD).resources()}


def test_the_apps_own_metrics_are_written_only_with_the_dashboard(resources: dict[str, Resource]) -> None:
    """Each app metric is a custom metric billed whether or not plotted: the functions write them (EMF) only
    for the dashboard that plots them (chalicelib.observability.APP_METRICS_ENV)."""
    def switches(found: dict[str, Resource]) -> set[str]:
        return {r.properties["Environment"]["Variables"]["CLASSTOP_APP_METRICS"]
                for r in found.values() if r.type == "AWS::Serverless::Function"}

    assert switches(resources) == {"off"}
    assert switches({r.logical_id: r for r in evaluate(parameters=WITH_DASHBOARD).resources()}) == {"on"}


def test_the_deploy_tool_asks_for_the_dashboard_only_with_its_flag() -> None:
    template = stack_templates.load("template.yaml")
    for flags, expected in (([], "false"), (["--dashboard"], "true")):
        args = deploy_parser().parse_args(["tenant", "update", "--tenant", "t", *flags])
        target = Target(tenant=args.tenant, stage=args.stage, dashboard=args.dashboard)
        parameters = root_parameters(target)
        assert parameters[dashboard.PARAMETER] == expected
        assert set(parameters) <= set(template["Parameters"])
        assert expected in template["Parameters"][dashboard.PARAMETER]["AllowedValues"]


def widgets(resources: dict[str, Resource]) -> list[dict[str, Any]]:
    board = resources[dashboard.DASHBOARD]
    assert board.type == "AWS::CloudWatch::Dashboard" and board.name == f"classtop--{TENANT}--{STAGE}"
    found: list[dict[str, Any]] = json.loads(board.properties["DashboardBody"])["widgets"]
    return found


def metric_rows(found: list[dict[str, Any]]) -> list[list[Any]]:
    return [row for w in found if w["type"] == "metric" for row in w["properties"]["metrics"] if isinstance(row, list)]


def test_the_dashboard_shows_every_function_rule_table_and_alarm() -> None:
    stack = evaluate(parameters=WITH_DASHBOARD)
    resources = {r.logical_id: r for r in stack.resources()}
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
    assert [FAILURES_NAMESPACE, failure_filters.METRIC_NAME] in rows
    api, stage = resources[http_api.HTTP_API].name, cloud_app.api_gateway_stage()  # an HTTP API's metrics
    assert {tuple(r) for r in rows if r[0] == "AWS/ApiGateway"} == {
        ("AWS/ApiGateway", m, "ApiId", api, "Stage", stage) for m in ("Count", "4xx", "5xx", "Latency",
                                                                      "IntegrationLatency")}
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
