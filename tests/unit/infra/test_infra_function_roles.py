"""One IAM role per Lambda function, granting only what its code path uses (issue 11, item 7).

Static, on template.yaml (as written, after AWS's SAM translator, and evaluated for a tenant stage): every function
runs as its own role; every granted action is one AWS knows, on a resource of a type AWS authorizes it on (the
Service Authorization Reference as cfn-lint ships it), ``*`` only for actions AWS cannot scope and ``cert/*`` only
for actions authorized on certificates alone (both listed in docs/security.md); no ``logs:*:*:*``.

Behavioural: each function's code path runs in-process against moto (the rule handlers on the messages a site
sends, the sweeper on an overdue command, the API on a walk through its routes); every AWS call it makes is
recorded as (IAM action, resource ARN) and must be allowed by that function's role - and a rule handler's or the
sweeper's role grants exactly the tables it touched (written ones for writing).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.client
import pytest
from cfnlint.data import AdditionalSpecs
from cfnlint.helpers import load_resource
from moto import mock_aws

from infra.aws import cloud_app
from infra.aws.cfn_eval import TemplateEval, policy_documents, statements
from infra.aws.policy_eval import Connection, IotPolicy
from infra.aws.rules import event_for, rule_for_handler
from shared import topics
from shared.messages import snapshot_hash
from shared.names import Namespace, resource_name
from tests.unit.infra.stack_templates import ACCOUNT, REGION, ROOT, STAGE, TENANT, evaluate, load, translated

#: IAM actions AWS authorizes only on ``*`` that a function may use (docs/security.md lists them)
UNSCOPED = {"iot:CreateCertificateFromCsr"}
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
SERVICE_MAP: dict[str, Any] = load_resource(AdditionalSpecs, "Policies.json")
T0 = 1_700_000_000.0


# ---------------------------------------------------------------- the roles as CloudFormation would create them


def function_roles(stack: TemplateEval) -> dict[str, list[dict[str, Any]]]:
    """Function name -> the statements of its role (resolved for the tenant stage)."""
    template = load("template.yaml")
    resources = {r.logical_id: r for r in stack.resources()}
    roles: dict[str, list[dict[str, Any]]] = {}
    for function in cloud_app.functions():
        role = template["Resources"][function.logical_id]["Properties"]["Role"]
        assert set(role) == {"Fn::GetAtt"} and role["Fn::GetAtt"][1] == "Arn", (function.name, role)
        role_id = role["Fn::GetAtt"][0]
        assert resources[role_id].type == "AWS::IAM::Role", role_id
        found = [dict(s) for d in policy_documents(resources[role_id].properties) for s in statements(d)]
        for other in resources.values():  # policies attached to the role elsewhere
            if other.type in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy") and resources[role_id].name in str(
                    other.properties.get("Roles", [])):
                found += [dict(s) for d in policy_documents(other.properties) for s in statements(d)]
        roles[function.name] = found
    return roles


def as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def grants(role: list[dict[str, Any]]) -> list[tuple[str, str]]:
    allows = [s for s in role if s["Effect"] == "Allow"]
    return [(a, r) for s in allows for a in as_list(s["Action"]) for r in as_list(s["Resource"])]


def allowed(role: list[dict[str, Any]], action: str, resource: str) -> bool:
    return IotPolicy({"Statement": role}).allows(action, resource, Connection(client_id="lambda"))


def resource_types(action: str) -> list[str]:
    service, name = action.split(":", 1)
    actions = SERVICE_MAP[service]["Actions"]
    known = {k.lower(): v for k, v in actions.items()}
    assert name.lower() in known, f"{action}: AWS has no such action"
    return list(known[name.lower()].get("Resources", []))


def formats(service: str, kind: str) -> list[re.Pattern[str]]:
    arns = SERVICE_MAP[service]["Resources"][kind.lower()]["ARNFormats"]
    return [re.compile(a.replace("${Partition}", "aws").replace("${Region}", REGION).replace("${Account}", ACCOUNT))
            for a in arns]


def check_grant(action: str, resource: str) -> None:
    kinds = resource_types(action)
    if resource == "*":
        assert not kinds and action in UNSCOPED, f"{action} granted on every resource"
        return
    assert kinds, f"{action} is authorized on * only, not on {resource}"
    assert ":logs:*" not in resource and "log-group:*" not in resource, f"{action} on any log group: {resource}"
    sample = resource.replace("*", "x").replace("?", "x")
    service = action.split(":", 1)[0]
    fits = [k for k in kinds if any(f.fullmatch(sample) for f in formats(service, k))]
    assert fits, f"{action} is authorized on {kinds}; {resource} is none of them (the grant cannot work)"
    if re.search(r":cert/\*$", resource):
        assert set(kinds) <= {"cert", "thinggroup"}, f"{action} on cert/*: AWS allows narrower ({kinds})"


#: rule handlers that need more than their tables: a full heartbeat publishes the site's waiting orders again (an
#: upgrade start with a freshly presigned package URL); a site's retired agents have their shadows deleted
RULE_EXTRAS = {"site_heartbeat": {"iot", "s3"}, "agents_retired": {"iot"}, "site_alerts": {"sns"},
               "evaluate_alerts": {"sns", "s3"}, "alert_digest": {"sns"}}


def test_one_least_privilege_role_per_function() -> None:
    template, sam = load("template.yaml"), translated()
    functions = cloud_app.functions()
    role_ids = [template["Resources"][f.logical_id]["Properties"]["Role"]["Fn::GetAtt"][0] for f in functions]
    assert len(set(role_ids)) == len(functions), "functions share a role"
    lambdas = [r["Properties"]["Role"] for r in sam["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    assert len(lambdas) == len(functions) and len({json.dumps(r) for r in lambdas}) == len(lambdas)
    assert "DefaultRole" not in template["Resources"]

    roles = function_roles(evaluate())
    for name, role in roles.items():
        for action, resource in grants(role):
            check_grant(action, resource)
        if name != "api_handler":  # the rule handlers and the sweeper use their tables, their logs, their DLQ
            services = {a.split(":")[0] for a, _ in grants(role)}
            assert services <= {"dynamodb", "logs", "sqs"} | RULE_EXTRAS.get(name, set()), (name, services)
    undocumented = {a for role in roles.values() for a, r in grants(role) if r == "*" or r.endswith(":cert/*")}
    security = (ROOT / "docs/security.md").read_text()
    assert all(action in security for action in undocumented), undocumented - {a for a in undocumented
                                                                              if a in security}

    with recording() as calls:
        walk_the_code_paths(calls)
    for name, used in calls.by_function.items():
        role = roles[name]
        denied = sorted({(a, r) for a, r in used if not allowed(role, a, r)})
        assert not denied, f"{name} would be denied {denied[:5]}"
        if name == "api_handler":
            continue
        touched = {table_of(r) for a, r in used if a.startswith("dynamodb:")}
        written = {table_of(r) for a, r in used if a.split(":")[1] in WRITES}
        granted = {table_of(r) for a, r in grants(role) if a.startswith("dynamodb:")}
        writable = {table_of(r) for a, r in grants(role) if a.split(":")[1] in WRITES}
        assert granted == touched, f"{name}: granted tables {sorted(granted)}, used {sorted(touched)}"
        assert writable == written, f"{name}: may write {sorted(writable)}, writes {sorted(written)}"
    assert set(calls.by_function) == {f.name for f in functions}, "a function's code path was not run"


def table_of(arn: str) -> str:
    return arn.split(":table/", 1)[1].split("/", 1)[0]


# ---------------------------------------------------------------- recording what the code does


@dataclass
class Calls:
    current: str | None = None
    by_function: dict[str, set[tuple[str, str]]] = field(default_factory=dict)

    def record(self, client: Any, operation: str, params: dict[str, Any]) -> None:
        if self.current is None:
            return
        used = self.by_function.setdefault(self.current, set())
        used.update(iam_requests(client.meta.service_model.service_name, operation, params))

    @contextmanager
    def running(self, function: str) -> Iterator[None]:
        self.current = function
        self.by_function.setdefault(function, set())
        try:
            yield
        finally:
            self.current = None


def iam_requests(service: str, operation: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    """The (IAM action, resource ARN) pairs AWS authorizes for one API call."""
    if service == "dynamodb":
        names: list[tuple[str, str | None]] = []
        if "TableName" in params:
            names.append((params["TableName"], params.get("IndexName")))
        names += [(t, None) for t in params.get("RequestItems", {})]
        arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/"
        if operation == "TransactWriteItems":  # AWS authorizes each item's own action, not the transaction
            item_actions = {"Put": "PutItem", "Delete": "DeleteItem", "Update": "UpdateItem",
                            "ConditionCheck": "ConditionCheckItem"}
            return [(f"dynamodb:{item_actions[kind]}", arn + part["TableName"])
                    for item in params.get("TransactItems", []) for kind, part in item.items()]
        return [(f"dynamodb:{operation}", arn + t + (f"/index/{i}" if i else "")) for t, i in names]
    iot = f"arn:aws:iot:{REGION}:{ACCOUNT}"
    if service == "iot-data" and operation == "Publish":
        return [("iot:Publish", f"{iot}:topic/{params['topic']}")]
    if service == "sns":  # a subscription's ARN is its topic's plus an id; IAM authorizes the topic
        arn = params.get("TopicArn") or params.get("SubscriptionArn", "*").rsplit(":", 1)[0]
        return [(f"sns:{operation}", arn)]
    if service == "s3" and "Key" in params:  # an object's actions; HEAD is authorized as s3:GetObject
        action = {"HeadObject": "GetObject"}.get(operation, operation)
        return [(f"s3:{action}", f"arn:aws:s3:::{params['Bucket']}/{params['Key']}")]
    if service == "iot-data" or (service == "iot" and "thingName" in params):
        return [(f"iot:{operation}", f"{iot}:thing/{params['thingName']}")]
    return [(f"{service}:{operation}", "*")]


@contextmanager
def recording() -> Iterator[Calls]:
    calls = Calls()
    real = botocore.client.BaseClient._make_api_call  # type: ignore[attr-defined]

    def spy(client: Any, operation: str, params: Any) -> Any:
        calls.record(client, operation, params)
        return real(client, operation, params)

    with pytest.MonkeyPatch.context() as patch:
        for name, value in {"AWS_DEFAULT_REGION": REGION, "AWS_ACCESS_KEY_ID": "testing",
                            "AWS_SECRET_ACCESS_KEY": "testing"}.items():
            patch.setenv(name, value)
        patch.setattr(botocore.client.BaseClient, "_make_api_call", spy)
        yield calls


def walk_the_code_paths(calls: Calls) -> None:
    from app import app
    from chalice.test import Client

    from chalicelib import container, models
    from chalicelib.adapters.webhooks import WebhookSender
    from chalicelib.config import Settings
    from chalicelib.domain.token import Principal, Role
    from chalicelib.domain.upgrade_campaign import CampaignSite, UpgradeCampaign
    from chalicelib.handlers import RULE_HANDLERS
    from chalicelib.handlers.alert_schedules import alert_digest, evaluate_alerts
    from chalicelib.handlers.sweeper import expire_commands
    from chalicelib.repositories.overview_scope import OverviewScopeRepository
    from chalicelib.repositories.upgrade_campaign import UpgradeCampaignRepository
    from shared.messages import AgentRetire
    from shared.topics import SiteDown

    clock = [T0]
    with mock_aws():
        container.reset()
        topic_arn = boto3.client("sns", region_name=REGION).create_topic(
            Name=resource_name(Namespace(TENANT, STAGE), "alerts"))["TopicArn"]  # the template's name
        overview = "ctov--" + TENANT + "--" + STAGE + "--123456789012"  # the template's name (moto's account)
        boto3.client("s3", region_name=REGION).create_bucket(
            Bucket=overview, CreateBucketConfiguration={"LocationConstraint": REGION})
        settings = Settings(tenant=TENANT, stage=STAGE, region=REGION, alerts_topic_arn=topic_arn,
                            overview_bucket=overview)
        # a webhook whose host resolves to a private address: refused, kept for a retry (the write it costs)
        container.configure(settings=settings, clock=lambda: clock[0],
                            webhooks=WebhookSender(resolver=lambda host, port: ["10.0.0.1"]))
        models.create_tables(settings)
        try:
            secret = container.get().tokens.create(Role.ADMIN, "roles-test").secret
            rule = _rule_runner(RULE_HANDLERS, settings.namespace)
            with calls.running("site_heartbeat"):
                rule("site_heartbeat", {"type": "site_heartbeat", "v": 1, "timestamp": T0, "lms_version": "1",
                                        "full": True, "agents": [{"agent_id": "pc-1", "status": "online"},
                                                                 {"agent_id": "pc-2", "status": "online"}]})
                rule("site_heartbeat", {"type": "site_heartbeat", "v": 1, "timestamp": T0 + 1, "lms_version": "1",
                                        "full": False, "agents": [{"agent_id": "pc-1", "status": "offline"}]})
            # an order waiting for the site (a retirement, an upgrade start): the next full heartbeat sends it again
            services, admin = container.get(), Principal("roles-test", Role.ADMIN)
            services.site_orders.give("s1", "retire#pc-9", SiteDown.RETIRE, AgentRetire(
                agent_id="pc-9", by="roles-test", timestamp=T0))
            campaign = UpgradeCampaign("upg-1", "1.1.0", "0" * 64, "A" * 86 + "==", 10, ("s1",), None, 10.0, 25,
                                       "roles-test", T0)
            UpgradeCampaignRepository().create(campaign, [CampaignSite("s1", "ordered")])
            services.agents.set_tags("pc-2", ["lab"], admin)
            clock[0] = T0 + 120
            with calls.running("site_heartbeat"):
                rule("site_heartbeat", {"type": "site_heartbeat", "v": 1, "timestamp": T0 + 120, "lms_version": "1",
                                        "full": True, "agents": [{"agent_id": "pc-1", "status": "online"},
                                                                 {"agent_id": "pc-2", "status": "online"}]})
            with calls.running("agents_retired"):
                rule("agents_retired", {"type": "agents_retired", "v": 1, "agents": [
                    {"agent_id": "pc-2", "retired_at": T0 + 121}, {"agent_id": "pc-9", "retired_at": T0 + 121}]})
            with calls.running("upgrade_reports"):
                rule("upgrade_reports", {"type": "upgrade_campaign_report", "v": 1, "campaign_id": "upg-1",
                                         "state": "running", "lms_campaign_id": 1, "timestamp": T0 + 122,
                                         "agents": [{"agent_id": "pc-1", "wave": 0, "state": "sent",
                                                     "updated_at": T0 + 122}]})
            clock[0] = T0
            with calls.running("api_handler"), Client(app, stage_name="dev") as http:
                headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
                for kind, address, digest in (("email", "ops@example.com", False),
                                              ("webhook", "https://hooks.example.com/a", False),
                                              ("webhook", "https://hooks.example.com/b", True)):
                    made = http.http.post("/api/alert-channels", headers=headers, body=json.dumps(
                        {"kind": kind, "address": address, "min_severity": "info", "digest": digest}))
                    assert made.status_code == 201, made.json_body
                    tested = http.http.post(f"/api/alert-channels/{made.json_body['data']['channel_id']}/test",
                                            headers=headers, body=b"")
                    assert tested.status_code == 200, tested.json_body
                sent = http.http.post("/api/commands", headers=headers,
                                      body=json.dumps({"agent_id": "pc-1", "command": "ping"}))
                assert sent.status_code == 202, sent.json_body
                command_id = sent.json_body["data"]["command_id"]
                for method, path, body in [
                    ("GET", f"/api/commands/{command_id}", None),
                    ("GET", "/api/agents", None),
                    ("PUT", "/api/agents/pc-1/settings", {"settings": {"theme": "dark"}}),
                    ("GET", "/api/agents/pc-1/settings", None),
                    ("GET", "/api/stats", None),
                ]:
                    answer = http.http.request(method, path, headers=headers,
                                               body=b"" if body is None else json.dumps(body).encode())
                    assert answer.status_code < 500, (path, answer.json_body)
            with calls.running("command_results"):
                rule("command_results", {"type": "command_results", "v": 1, "results": [
                    {"request_id": command_id, "agent_id": "pc-1", "status": "succeeded", "success": True,
                     "timestamp": T0 + 2}]})
            with calls.running("site_events"):
                rule("site_events", {"type": "site_events", "v": 1, "events": [
                    {"agent_id": "pc-1", "event": {"type": "event", "v": 1, "timestamp": T0 + 3,
                                                   "kind": "camera.recording", "data": {"camera_id": "door"}}}]})
            with calls.running("site_sync"):
                data = {"theme": "dark"}
                rule("site_sync", {"type": "agent_snapshots", "v": 1, "snapshots": [
                    {"agent_id": "pc-1", "kind": "settings", "epoch": "e0001", "version": 1,
                     "hash": snapshot_hash(data), "data": data, "updated_at": T0}]})
            with calls.running("site_metrics"):
                rule("site_metrics", {"type": "metric_rollups", "v": 1, "rollups": [
                    {"agent_id": "pc-1", "start": 1_699_999_200, "period_s": 300, "samples": 30, "cpu_min": 1.0,
                     "cpu_avg": 2.0, "cpu_max": 3.0, "mem_min": 4.0, "mem_avg": 5.0, "mem_max": 6.0}]})
            with calls.running("api_handler"), Client(app, stage_name="dev") as http:  # a command to expire
                again = json.dumps({"agent_id": "pc-1", "command": "ping"})
                assert http.http.post("/api/commands", headers=headers, body=again).status_code == 202
            with calls.running("site_alerts"):
                rule("site_alerts", {"type": "site_alerts", "v": 1, "alerts": [{
                    "alert_id": "a" * 32, "key": "b" * 32, "seq": 1, "rule_id": "disk-full", "rule_scope": "tenant",
                    "rule_name": "Disk", "severity": "error", "condition_kind": "metric_threshold",
                    "target": {"kind": "agent", "agent_id": "pc-1"}, "state": "firing", "opened_at": T0,
                    "changed_at": T0}]})
            with calls.running("api_handler"), Client(app, stage_name="dev") as http:  # acknowledged in the cloud
                acked = http.http.post(f"/api/alerts/{'a' * 32}/acknowledge", headers=headers, body="{}")
                assert acked.status_code == 200, acked.body
            with calls.running("site_alerts"):  # the site's record answers the acknowledgement's order
                rule("site_alerts", {"type": "site_alerts", "v": 1, "alerts": [{
                    "alert_id": "a" * 32, "key": "b" * 32, "seq": 2, "rule_id": "disk-full", "rule_scope": "tenant",
                    "rule_name": "Disk", "severity": "error", "condition_kind": "metric_threshold",
                    "target": {"kind": "agent", "agent_id": "pc-1"}, "state": "acknowledged", "opened_at": T0,
                    "changed_at": T0 + 1, "acknowledged_by": "cloud:roles-test", "acknowledged_at": T0}]})
            with calls.running("site_presence"):  # IoT Core's lifecycle event: the site's link state kept
                rule("site_presence", {"clientId": topics.site_thing_name(settings.namespace, "s1"),
                                       "timestamp": int(T0 * 1000) + 1, "eventType": "disconnected",
                                       "versionNumber": 0, "disconnectReason": "CONNECTION_LOST"})  # fmt: skip
            clock[0] = T0 + 3600  # the site silent: the cloud opens a site alert; the failed webhook is due again
            with calls.running("api_handler"), Client(app, stage_name="dev") as http:  # the overview's object
                feed = http.http.get("/api/overview/feed", headers=headers)
                assert feed.status_code == 200 and feed.json_body["data"]["url"], feed.body
            (key, entry), = OverviewScopeRepository().read().items()  # as if written long ago: written again
            OverviewScopeRepository().written(key, entry.digest, 0)
            with calls.running("evaluate_alerts"):  # and the overview's object written again
                report = evaluate_alerts({})
                assert report["opened"] == 1 and report["deliveries_failed"] >= 1, report
                assert report["overview_objects"]["written"] == 1, report["overview_objects"]
            with calls.running("alert_digest"):
                digested = alert_digest({})
                assert digested["alerts"] >= 1, digested
            clock[0] = T0 + 3 * 24 * 3600  # past every delivery window
            with calls.running("expire_commands"):
                report = expire_commands({})
                assert report["ok"] and report.get("expired", 1), report
        finally:
            container.reset()
            models.unbind()


def _rule_runner(handlers: dict[str, Any], ns: Any) -> Callable[[str, dict[str, Any]], None]:
    def run(handler: str, message: dict[str, Any]) -> None:
        rule = rule_for_handler(handler)
        topic = (topics.presence_event(topics.PresenceEvent(message["eventType"]), message["clientId"])
                 if rule.channel is None else topics.site_up(ns, "s1", rule.channel))  # fmt: skip
        event = event_for(rule, topic, json.dumps(message).encode())
        outcome = handlers[handler](event, None)
        assert outcome["ok"], (handler, outcome)

    return run


