"""Tenants and stages never share a name (issue 11, item 2).

Tenants ``a`` and ``a-b``, each with stages ``dev`` and ``prod``, are deployed (their data planes, by the real
deploy tool) to moto, and each one's whole stack is evaluated from the committed templates as CloudFormation
would (``infra.aws.cfn_eval``). Then, for every pair of these four, nothing of one may name or match anything of
the other: no resource name, ARN, thing name or topic is shared; no IAM resource pattern, IoT rule topic filter
or IoT site-policy resource of one matches a name, ARN or topic of the other. Site ids are chosen to make one
namespace's names look like another's (``b-x`` of tenant ``a`` against ``x`` of tenant ``a-b``).
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import permutations

import pytest
import yaml
from paho.mqtt.client import topic_matches_sub

from infra.aws.cfn_eval import TemplateEval, policy_documents, statements
from infra.aws.policy_eval import Connection, IotPolicy
from infra.aws.site_policy import SITE_ID_ATTRIBUTE
from infra.aws.stacks import stack_name
from shared import names, topics
from shared.errors import InvalidName
from tests.integration.infra.moto_deploy import ACCOUNT, REGION, ROOT, client, tool

pytestmark = pytest.mark.integration

NAMESPACES = [names.Namespace(t, s) for t in ("a", "a-b") for s in ("dev", "prod")]
#: site ids that make one namespace's names look like another's
SITES = ("x", "b-x", "dev-x", "b-dev-x", "prod", "dev--x", "b--dev--x", "x--prod")
#: IAM actions AWS authorizes only on ``*`` (no resource-level permissions): not namespaced by design
UNSCOPABLE = {"iot:CreateCertificateFromCsr"}
IOT = f"arn:aws:iot:{REGION}:{ACCOUNT}"


def _glob(pattern: str) -> re.Pattern[str]:
    """An IAM resource pattern: ``*`` any run of characters (``/`` too), ``?`` one character."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), re.DOTALL)


@dataclass
class Inventory:
    """Everything one namespace's stack names, grants and uses."""

    ns: names.Namespace
    names: dict[str, set[str]] = field(default_factory=dict)  # resource type -> physical names
    #: the same, of the data plane alone (what ``deploy --data-plane-only`` makes; the root stack's own resources,
    #: e.g. the overview bucket beside the API, are evaluated but not deployed here)
    data_plane_names: dict[str, set[str]] = field(default_factory=dict)
    arns: set[str] = field(default_factory=set)  # with sub-resources (indexes, objects) for the cross checks
    resource_arns: set[str] = field(default_factory=set)  # the resources themselves
    topics: set[str] = field(default_factory=set)
    iam_patterns: list[tuple[str, str]] = field(default_factory=list)  # (action, resource pattern)
    rule_filters: set[str] = field(default_factory=set)
    site_policy: IotPolicy | None = None
    things: dict[str, str] = field(default_factory=dict)  # site -> thing name


def evaluate(ns: names.Namespace) -> Inventory:
    root = yaml.safe_load((ROOT / "template.yaml").read_text())
    data_plane = yaml.safe_load((ROOT / "infra/aws/data-plane.yaml").read_text())
    stack = TemplateEval(root, {"TenantId": ns.tenant, "Stage": ns.stage,
                                "IotDataEndpoint": "example-ats.iot.eu-west-1.amazonaws.com"},
                         stack_name=stack_name(ns.tenant, ns.stage), region=REGION, account=ACCOUNT,
                         nested={"infra/aws/data-plane.yaml": data_plane})
    inv = Inventory(ns)
    inv.names["AWS::CloudFormation::Stack"] = {stack.stack_name}
    data_plane_ev = stack.nested("DataPlane")
    for ev in (stack, data_plane_ev):
        for res in ev.resources():
            inv.names.setdefault(res.type, set()).add(res.name)
            if ev is data_plane_ev:
                inv.data_plane_names.setdefault(res.type, set()).add(res.name)
            try:
                arn = ev.arn(res.type, res.name)
            except ValueError:
                arn = None
            if arn is not None:
                inv.resource_arns.add(arn)
                inv.arns |= {arn, f"{arn}/index/by-site", f"{arn}/media/x.jpg"}
            if res.type == "AWS::IoT::Policy":
                inv.site_policy = IotPolicy(res.properties["PolicyDocument"])
                continue
            if res.type == "AWS::IoT::TopicRule":
                sql = res.properties["TopicRulePayload"]["Sql"]
                inv.rule_filters.add(re.search(r"FROM '([^']+)'", sql).group(1))  # type: ignore[union-attr]
            for document in policy_documents(res.properties):
                for statement in statements(document):
                    actions = statement["Action"]
                    for resource in [statement["Resource"]] if isinstance(statement["Resource"], str) \
                            else statement["Resource"]:
                        for action in [actions] if isinstance(actions, str) else actions:
                            inv.iam_patterns.append((action, resource))
    for site in SITES:
        thing = topics.site_thing_name(ns, site)
        inv.things[site] = thing
        inv.arns |= {f"{IOT}:thing/{thing}", f"{IOT}:client/{thing}"}
        used = [topics.site_up(ns, site, ch) for ch in topics.SiteUp]
        used += [topics.site_up_plain(ns, site, ch) for ch in topics.SiteUp]  # what a rule sees of a Basic Ingest one
        used += [topics.site_down(ns, site, ch) for ch in topics.SiteDown]
        used += [topics.shadow(thing, op, shadow) for op in topics.ShadowOp
                 for shadow in (None, topics.agent_shadow_name("pc-1"))]
        inv.topics |= set(used)
        inv.arns |= {f"{IOT}:topic/{t}" for t in used}
        inv.arns |= {f"{IOT}:topicfilter/{f}" for f in (topics.site_down_filter(ns, site), topics.shadow_filter(thing))}
    return inv


def lms_uses(inv: Inventory, site: str) -> list[tuple[str, str]]:
    """(action, resource) of everything an LMS of ``site`` does on IoT Core."""
    thing = inv.things[site]
    uses = [("iot:Connect", f"{IOT}:client/{thing}")]
    uses += [("iot:Publish", f"{IOT}:topic/{topics.site_up(inv.ns, site, ch)}") for ch in topics.SiteUp]
    uses.append(("iot:Subscribe", f"{IOT}:topicfilter/{topics.site_down_filter(inv.ns, site)}"))
    uses += [("iot:Receive", f"{IOT}:topic/{topics.site_down(inv.ns, site, ch)}") for ch in topics.SiteDown]
    uses.append(("iot:Subscribe", f"{IOT}:topicfilter/{topics.shadow_filter(thing)}"))
    uses.append(("iot:Publish", f"{IOT}:topic/{topics.shadow(thing, topics.ShadowOp.UPDATE, 'pc-1')}"))
    return uses


def lms(inv: Inventory, site: str) -> Connection:
    thing = inv.things[site]
    return Connection(client_id=thing, thing_name=thing, attributes={SITE_ID_ATTRIBUTE: site})


def deployed_names(url: str) -> dict[str, set[str]]:
    # every page: the session's moto server also holds other tests' resources (ListTables answers 100 at a time)
    iot, dynamodb, sns = client("iot", url), client("dynamodb", url), client("sns", url)
    return {
        "AWS::DynamoDB::Table": {n for page in dynamodb.get_paginator("list_tables").paginate()
                                 for n in page["TableNames"]},
        "AWS::IoT::Policy": {p["policyName"] for page in iot.get_paginator("list_policies").paginate()
                             for p in page["policies"]},
        "AWS::IoT::ThingType": {t["thingTypeName"] for page in iot.get_paginator("list_thing_types").paginate()
                                for t in page["thingTypes"]},
        "AWS::SNS::Topic": {t["TopicArn"].rsplit(":", 1)[1] for page in sns.get_paginator("list_topics").paginate()
                            for t in page["Topics"]},
        "AWS::S3::Bucket": {b["Name"] for b in client("s3", url).list_buckets()["Buckets"]},
    }


def stored_policy(url: str, name: str) -> IotPolicy:
    document = client("iot", url).get_policy(policyName=name)["policyDocument"]
    try:
        return IotPolicy(json.loads(document))
    except json.JSONDecodeError:  # moto keeps a policy created by CloudFormation as the repr of its dict
        return IotPolicy(ast.literal_eval(document))


@pytest.fixture(scope="module")
def inventories() -> dict[names.Namespace, Inventory]:
    return {ns: evaluate(ns) for ns in NAMESPACES}


@pytest.fixture
def deployed(moto_url: str) -> Iterator[str]:
    """The four namespaces' data planes on the session's moto server, deleted afterwards (moto's state is shared
    by the whole test session)."""
    try:
        for ns in NAMESPACES:
            done = tool("deploy", "--tenant", ns.tenant, "--stage", ns.stage, "--data-plane-only",
                        "--no-admin-token", "--endpoint-url", moto_url, "--poll", "0.2")
            assert done.returncode == 0, done.stderr
        yield moto_url
    finally:
        for ns in NAMESPACES:
            tool("delete", "--tenant", ns.tenant, "--stage", ns.stage, "--yes", "--purge", "--endpoint-url", moto_url,
                 "--poll", "0.2")


def test_tenants_and_stages_never_collide(deployed: str, inventories: dict[names.Namespace, Inventory]) -> None:
    moto_url = deployed

    # what moto's CloudFormation created is what the evaluation of the data plane's template says, for every
    # namespace (the root stack's own resources are not deployed here; the cross checks below cover them too)
    have = deployed_names(moto_url)
    for inv in inventories.values():
        for kind, present in have.items():
            assert inv.data_plane_names.get(kind, set()) <= present, (inv.ns, kind)
            assert inv.data_plane_names.get(kind), (inv.ns, kind, "the data plane names none: a vacuous check")
        # by name: moto's listing of every stack trips over a failed stack another test may leave behind
        stack = client("cloudformation", moto_url).describe_stacks(StackName=stack_name(inv.ns.tenant, inv.ns.stage))
        assert stack["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
        policy_name = next(iter(inv.names["AWS::IoT::Policy"]))
        stored = stored_policy(moto_url, policy_name)
        for site in SITES:  # the policy as CloudFormation resolved it lets each site's LMS do its job
            assert all(stored.allows(*use, lms(inv, site)) for use in lms_uses(inv, site)), (inv.ns, site)

    for mine, other in permutations(inventories.values(), 2):
        where = f"{mine.ns} against {other.ns}"
        for kind, taken in mine.names.items():
            assert not taken & other.names.get(kind, set()), f"{where}: shared {kind} names"
        assert not mine.arns & other.arns, f"{where}: shared ARNs {sorted(mine.arns & other.arns)[:3]}"
        assert not mine.topics & other.topics, f"{where}: shared topics {sorted(mine.topics & other.topics)[:3]}"
        for action, pattern in mine.iam_patterns:
            if pattern == "*":
                assert action in UNSCOPABLE, f"{mine.ns}: {action} granted on every resource"
                continue
            regex = _glob(pattern)  # once per pattern: thousands of them overflow re's cache
            hits = [arn for arn in other.arns if regex.fullmatch(arn)]
            assert not hits, f"{where}: IAM {action} on {pattern} covers {hits[:3]}"
        for rule_filter in mine.rule_filters:
            hits = [t for t in other.topics if topic_matches_sub(rule_filter, t)]
            assert not hits, f"{where}: rule filter {rule_filter} takes {hits[:3]}"
        assert mine.site_policy is not None
        for site in SITES:
            # an LMS of the other namespace holding this namespace's policy (attached by mistake) gets nothing
            granted = [use for use in lms_uses(other, site) if mine.site_policy.allows(*use, lms(other, site))]
            assert not granted, f"{where}: site policy grants {granted[:3]}"


def test_the_checks_are_not_vacuous(inventories: dict[names.Namespace, Inventory]) -> None:
    """Each namespace's own grants and rules do cover its own things, tables and topics."""
    for inv in inventories.values():
        own_things = {a for a in inv.arns if a.startswith(f"{IOT}:thing/")}
        own_tables = {a for a in inv.resource_arns if ":dynamodb:" in a}
        own_up = {t for t in inv.topics if "/up/" in t}
        assert len(own_things) == len(SITES) and own_tables and own_up
        patterns = [_glob(p) for _, p in inv.iam_patterns if p != "*"]
        assert all(any(p.fullmatch(a) for p in patterns) for a in own_things | own_tables), inv.ns
        # the site rules take the namespace's up topics; the lifecycle rule takes IoT Core's events of every client,
        # narrowed to the namespace's things by its WHERE (tests/unit/infra/test_infra_rule_table.py)
        site_filters = {f for f in inv.rule_filters if not f.startswith("$aws/events/")}
        assert site_filters and inv.rule_filters - site_filters == {"$aws/events/presence/+/+"}
        assert all(any(topic_matches_sub(f, t) for t in own_up) for f in site_filters)
        for site in SITES:
            assert inv.site_policy is not None
            assert all(inv.site_policy.allows(*use, lms(inv, site)) for use in lms_uses(inv, site)), (inv.ns, site)


def test_names_keep_their_grammar() -> None:
    """The separator never appears inside a tenant or a stage; names too long for AWS are refused."""
    for bad in ("a--b", "a-", "-a", "A", "a_b", "1a", "a" * 21):
        with pytest.raises(InvalidName):
            names.check_tenant(bad)
    for bad in ("dev--x", "dev-", "Dev", "d_v", "d" * 17):
        with pytest.raises(InvalidName):
            names.check_stage(bad)
    longest = names.Namespace("t" * 20, "s" * 16)
    assert len(names.resource_name(longest, ACCOUNT)) <= 63  # the media bucket's name, the longest

