"""The LMS identities' IoT policy (from infra/aws/data-plane.yaml) against the topic builders of shared/.

Every topic the LMS uses is allowed for its own site and denied for another site of the tenant, for the same
site id in another tenant, for a connection whose client id is not its thing, and for a thing without the
site attribute. The policy is read from the committed template and resolved as CloudFormation would.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.aws.policy_eval import Connection, IotPolicy, PolicyEvalError, resolve_sub
from infra.aws.site_policy import SITE_ID_ATTRIBUTE
from shared import names, topics
from shared.names import Namespace

ROOT = Path(__file__).resolve().parents[3]
REGION, ACCOUNT = "eu-west-1", "123456789012"
ARN = f"arn:aws:iot:{REGION}:{ACCOUNT}"
REQUESTS = {topics.ShadowOp.UPDATE, topics.ShadowOp.GET, topics.ShadowOp.DELETE}


def _ns(tenant: str) -> Namespace:
    return Namespace(tenant, "dev")


def policy_for(tenant: str, stage: str = "dev") -> IotPolicy:
    template = yaml.safe_load((ROOT / "infra/aws/data-plane.yaml").read_text())
    document = template["Resources"]["SitePolicy"]["Properties"]["PolicyDocument"]
    values = {"TenantId": tenant, "Stage": stage, "AWS::Partition": "aws", "AWS::Region": REGION,
              "AWS::AccountId": ACCOUNT}
    return IotPolicy(resolve_sub(document, values))


def lms(tenant: str, site: str) -> Connection:
    """An LMS as deployed: client id = thing name, thing attached, with its site_id attribute."""
    thing = topics.site_thing_name(_ns(tenant), site)
    return Connection(client_id=thing, thing_name=thing, attributes={SITE_ID_ATTRIBUTE: site})


def connects(policy: IotPolicy, connection: Connection) -> bool:
    """IoT checks iot:Connect against the connection's own client id."""
    return policy.allows("iot:Connect", f"{ARN}:client/{connection.client_id}", connection)


def lms_uses(tenant: str, site: str) -> list[tuple[str, str]]:
    """(action, resource ARN) of everything an LMS of ``site`` does once connected, built by shared.topics."""
    thing = topics.site_thing_name(_ns(tenant), site)
    uses = [("iot:Publish", f"{ARN}:topic/{topics.site_up(_ns(tenant), site, ch)}") for ch in topics.SiteUp]
    # one subscription per down channel (commands to the fan-out, log requests to the log uploads)
    for ch in topics.SiteDown:
        uses.append(("iot:Subscribe", f"{ARN}:topicfilter/{topics.site_down(_ns(tenant), site, ch)}"))
        uses.append(("iot:Receive", f"{ARN}:topic/{topics.site_down(_ns(tenant), site, ch)}"))
    uses.append(("iot:Subscribe", f"{ARN}:topicfilter/{topics.shadow_filter(thing)}"))
    for op in topics.ShadowOp:
        for name in (topics.agent_shadow_name("pc-001"), None):
            action = "iot:Publish" if op in REQUESTS else "iot:Receive"
            uses.append((action, f"{ARN}:topic/{topics.shadow(thing, op, name)}"))
    return uses


def allowed(policy: IotPolicy, connection: Connection, uses: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [use for use in uses if policy.allows(*use, connection)]


@pytest.mark.parametrize("tenant", ["district-a", "b"])
def test_every_topic_the_lms_uses_is_allowed_for_its_own_site(tenant: str) -> None:
    policy = policy_for(tenant)
    for site in ("school-1", "S_2"):
        me = lms(tenant, site)
        assert connects(policy, me)
        uses = lms_uses(tenant, site)
        assert len(uses) == len(topics.SiteUp) + 2 * len(topics.SiteDown) + 1 + 2 * len(topics.ShadowOp)
        assert allowed(policy, me, uses) == uses


def test_another_site_of_the_tenant_is_denied_everything() -> None:
    policy = policy_for("district-a")
    me = lms("district-a", "school-1")
    assert allowed(policy, me, lms_uses("district-a", "school-2")) == []
    # connecting with the other site's client id: that thing is not the one attached to my certificate
    thing = topics.site_thing_name(_ns("district-a"), "school-1")
    impostor = Connection(client_id=topics.site_thing_name(_ns("district-a"), "school-2"), thing_name=thing,
                          attributes={SITE_ID_ATTRIBUTE: "school-1"})
    assert not connects(policy, impostor)


def test_another_tenant_cannot_connect_or_use_its_topics() -> None:
    mine = policy_for("district-a")
    # the other tenant's LMS (same site id) whose certificate got my policy attached: no connection, and its own
    # topics are not granted either
    theirs = lms("district-b", "school-1")
    assert not connects(mine, theirs)
    assert allowed(mine, theirs, lms_uses("district-b", "school-1")) == []
    # my LMS under the other tenant's policy: no connection, none of my topics
    other_policy = policy_for("district-b")
    assert not connects(other_policy, lms("district-a", "school-1"))
    assert allowed(other_policy, lms("district-a", "school-1"), lms_uses("district-a", "school-1")) == []
    # a tenant id that is a prefix of another ("district" vs "district-a") changes nothing
    assert not connects(policy_for("district"), lms("district-a", "school-1"))


def test_a_connection_without_its_attached_thing_gets_nothing() -> None:
    policy = policy_for("district-a")
    thing = topics.site_thing_name(_ns("district-a"), "school-1")
    no_thing = Connection(client_id=thing)
    assert not connects(policy, no_thing)
    assert allowed(policy, no_thing, lms_uses("district-a", "school-1")) == []


def test_a_thing_without_its_site_attribute_cannot_connect_or_use_site_topics() -> None:
    policy = policy_for("district-a")
    thing = topics.site_thing_name(_ns("district-a"), "school-1")
    bare = Connection(client_id=thing, thing_name=thing)
    assert not connects(policy, bare)
    assert allowed(policy, bare, lms_uses("district-a", "school-1")) == []
    # a thing of the tenant whose attribute names another site cannot connect (client id != ct--<t>--<stage>--<attr>)
    wrong = Connection(client_id=thing, thing_name=thing, attributes={SITE_ID_ATTRIBUTE: "school-2"})
    assert not connects(policy, wrong)


def test_wildcard_subscriptions_and_site_broker_topics_are_denied() -> None:
    policy = policy_for("district-a")
    me = lms("district-a", "school-1")
    for topic_filter in ("ct/district-a/dev/site/+/down/+", "ct/district-a/#", "#", "$aws/things/+/shadow/#",
                         topics.all_sites_up_filter(_ns("district-a"), topics.SiteUp.HEARTBEAT)):
        assert not policy.allows("iot:Subscribe", f"{ARN}:topicfilter/{topic_filter}", me), topic_filter
    assert not policy.allows("iot:Publish", f"{ARN}:topic/{topics.site_down(_ns('district-a'), 'school-1')}", me)
    agent = topics.agent_up("pc-001", topics.AgentUp.STATUS)
    assert not policy.allows("iot:Publish", f"{ARN}:topic/{agent}", me)
    # an action the policy never grants
    thing = topics.site_thing_name(_ns("district-a"), "school-1")
    assert not policy.allows("iot:UpdateThingShadow", f"{ARN}:thing/{thing}", me)


# ---------------------------------------------------------------- the evaluator itself


def test_evaluator_deny_wins_and_wildcards_cross_slashes() -> None:
    doc: dict[str, Any] = {"Statement": [
        {"Effect": "Allow", "Action": "iot:*", "Resource": "arn:x:topic/a/*"},
        {"Effect": "Deny", "Action": "iot:Publish", "Resource": "arn:x:topic/a/secret/?"},
    ]}
    policy = IotPolicy(doc)
    anyone = Connection(client_id="c")
    assert policy.allows("iot:Publish", "arn:x:topic/a/b/c/d", anyone)
    assert not policy.allows("iot:Publish", "arn:x:topic/a/secret/1", anyone)
    assert policy.allows("iot:Publish", "arn:x:topic/a/secret/12", anyone)
    assert not policy.allows("iot:Publish", "arn:x:topic/b", anyone)


def test_evaluator_refuses_what_it_does_not_model() -> None:
    with pytest.raises(PolicyEvalError):
        IotPolicy({"Statement": [{"Effect": "Allow", "NotAction": "iot:Connect", "Resource": "*"}]})
    policy = IotPolicy({"Statement": [{"Effect": "Allow", "Action": "iot:Connect", "Resource": "*",
                                       "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2020"}}}]})
    with pytest.raises(PolicyEvalError):
        policy.allows("iot:Connect", "arn:x:client/c", Connection(client_id="c"))
    with pytest.raises(PolicyEvalError):
        resolve_sub({"Fn::Sub": "arn:${Unknown}"}, {})


def test_the_policy_fits_iot_cores_size_limit_for_the_longest_names() -> None:
    """IoT Core refuses a policy document over 2048 characters (whitespace not counted): with the Basic Ingest
    resource the deployed document still fits for the longest tenant and stage and the longest partition and
    region names."""
    template = yaml.safe_load((ROOT / "infra/aws/data-plane.yaml").read_text())
    document = template["Resources"]["SitePolicy"]["Properties"]["PolicyDocument"]
    values = {"TenantId": "t" * names.TENANT_MAX, "Stage": "s" * names.STAGE_MAX, "AWS::Partition": "aws-us-gov",
              "AWS::Region": "ap-southeast-4", "AWS::AccountId": ACCOUNT}
    text = json.dumps(resolve_sub(document, values), separators=(",", ":"))
    assert len("".join(text.split())) <= 2048
