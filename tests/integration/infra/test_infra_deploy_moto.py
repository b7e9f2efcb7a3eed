"""``python -m infra.aws.deploy tenant ...`` as real subprocesses against a real moto server.

moto's CloudFormation cannot deploy SAM/Chalice or IoT topic rules, so the tenants' data plane is deployed
(``--data-plane-only``): two tenants side by side share no table, policy, thing type, topic or bucket; each
gets a working first admin token; one is updated and deleted and the other is untouched. Bad input gets a
clear message and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import ast
import json
import os
import re
import zipfile
from pathlib import Path

import pytest
import yaml

from chalicelib import models
from chalicelib.config import Settings
from chalicelib.errors import Unauthorized
from chalicelib.repositories.token import TokenRepository
from chalicelib.services.tokens import TokenService
from infra.aws.policy_eval import Connection, IotPolicy
from infra.aws.site_policy import SITE_ID_ATTRIBUTE
from infra.local.ports import free_port
from shared import topics
from shared.names import Namespace
from tests.fixtures.moto_server import start_moto
from tests.integration.infra.moto_deploy import AWS_ENV, REGION, TOKEN_RE, client, tool

pytestmark = pytest.mark.integration


def tenant_names(tenant: str) -> dict[str, set[str]]:
    return {
        "tables": {Settings(tenant=tenant, stage="dev", region=REGION).table_name(m.AGGREGATE) for m in models.MODELS},
        "policies": {f"classtop--{tenant}--dev--site-policy"},
        "thing_types": {f"classtop--{tenant}--dev--site-thing"},
        "topics": {f"arn:aws:sns:{REGION}:123456789012:classtop--{tenant}--dev--notifications"},
        "buckets": {f"classtop--{tenant}--dev--123456789012"},
    }


def existing(url: str) -> dict[str, set[str]]:
    iot = client("iot", url)
    return {
        "tables": set(client("dynamodb", url).list_tables()["TableNames"]),
        "policies": {p["policyName"] for p in iot.list_policies()["policies"]},
        "thing_types": {t["thingTypeName"] for t in iot.list_thing_types()["thingTypes"]},
        "topics": {t["TopicArn"] for t in client("sns", url).list_topics()["Topics"]},
        "buckets": {b["Name"] for b in client("s3", url).list_buckets()["Buckets"]},
    }


def authenticates(url: str, tenant: str, secret: str) -> bool:
    """The cloud's own TokenService, in this process, against the tenant's token table in moto."""
    with pytest.MonkeyPatch.context() as env:
        for name, value in AWS_ENV.items():
            env.setenv(name, value)  # PynamoDB reads credentials from the environment
        models.bind(Settings(tenant=tenant, stage="dev", region=REGION, aws_endpoint=url))
        try:
            return TokenService(TokenRepository()).authenticate(f"Bearer {secret}").role.value == "admin"
        except Unauthorized:
            return False
        finally:
            models.unbind()


def site_policy(url: str, tenant: str) -> IotPolicy:
    document = client("iot", url).get_policy(policyName=f"classtop--{tenant}--dev--site-policy")["policyDocument"]
    try:
        return IotPolicy(json.loads(document))
    except json.JSONDecodeError:  # moto keeps a policy created by CloudFormation as the repr of its dict
        return IotPolicy(ast.literal_eval(document))


def lms(tenant: str, site: str) -> Connection:
    thing = topics.site_thing_name(Namespace(tenant, "dev"), site)
    return Connection(client_id=thing, thing_name=thing, attributes={SITE_ID_ATTRIBUTE: site})


def test_two_tenants_side_by_side_then_update_and_delete_one(moto_url: str) -> None:
    url = ["--endpoint-url", moto_url, "--poll", "0.2"]
    deployed = {}
    for tenant in ("district-a", "district-b"):
        done = tool("deploy", "--tenant", tenant, "--data-plane-only", *url)
        assert done.returncode == 0, done.stderr
        assert f"stack classtop--{tenant}--dev: CREATE_COMPLETE" in done.stdout
        assert f"TokenTableName = classtop--{tenant}--dev--token" in done.stdout
        assert "CREATE_COMPLETE" in done.stderr  # the stack events were shown while waiting
        match = TOKEN_RE.search(done.stdout)
        assert match, done.stdout
        assert re.search(r"token id [0-9a-f]{16}, expires \d{4}-\d\d-\d\d \d\d:\d\d UTC", done.stdout), done.stdout
        deployed[tenant] = match.group(1)

    have = existing(moto_url)
    a, b = tenant_names("district-a"), tenant_names("district-b")
    for kind in a:
        assert a[kind] <= have[kind] and b[kind] <= have[kind], kind
        assert a[kind].isdisjoint(b[kind]), kind
    settings = Settings(tenant="district-a", stage="dev", region=REGION)
    for model in models.MODELS:  # every table with its indexes, as the cloud's models declare them
        table = client("dynamodb", moto_url).describe_table(TableName=settings.table_name(model.AGGREGATE))["Table"]
        want = {i["index_name"] for i in model._get_schema()["global_secondary_indexes"]}
        want |= set(getattr(model, "RETIRING_INDEXES", {}))  # kept one release beside their successors
        assert {i["IndexName"] for i in table.get("GlobalSecondaryIndexes", [])} == want, model.AGGREGATE

    # each tenant's admin token works on its own tables only
    assert authenticates(moto_url, "district-a", deployed["district-a"])
    assert not authenticates(moto_url, "district-b", deployed["district-a"])
    assert authenticates(moto_url, "district-b", deployed["district-b"])

    # the policies moto stored (resolved by CloudFormation) isolate the tenants' LMSs
    arn = f"arn:aws:iot:{REGION}:123456789012"
    up = f"{arn}:topic/{topics.site_up(Namespace('district-a', 'dev'), 'school-1', topics.SiteUp.HEARTBEAT)}"
    client_a = f"{arn}:client/{topics.site_thing_name(Namespace('district-a', 'dev'), 'school-1')}"
    policy_a, policy_b = site_policy(moto_url, "district-a"), site_policy(moto_url, "district-b")
    assert policy_a.allows("iot:Connect", client_a, lms("district-a", "school-1"))
    assert policy_a.allows("iot:Publish", up, lms("district-a", "school-1"))
    assert not policy_b.allows("iot:Connect", client_a, lms("district-a", "school-1"))
    assert not policy_b.allows("iot:Publish", up, lms("district-a", "school-1"))

    listed = tool("list", *url)
    assert listed.returncode == 0, listed.stderr
    assert [line.split("\t")[:3] for line in listed.stdout.splitlines()] == [
        ["district-a", "dev", "data"], ["district-b", "dev", "data"]]

    updated = tool("update", "--tenant", "district-a", "--data-plane-only", "--media-retention-days", "30", *url)
    assert updated.returncode == 0, updated.stderr
    assert "UPDATE_COMPLETE" in updated.stdout

    def stack(tenant: str) -> tuple[str, str]:
        # moto's CloudFormation ignores the bucket's lifecycle rules (and DynamoDB TTL): check the stack itself
        found = client("cloudformation", moto_url).describe_stacks(StackName=f"classtop--{tenant}--dev")["Stacks"][0]
        params = {p["ParameterKey"]: p["ParameterValue"] for p in found["Parameters"]}
        return found["StackStatus"], params["MediaRetentionDays"]

    assert stack("district-a") == ("UPDATE_COMPLETE", "30")
    assert stack("district-b") == ("CREATE_COMPLETE", "90")
    assert authenticates(moto_url, "district-a", deployed["district-a"])  # the update kept the tables' data

    refused = tool("delete", "--tenant", "district-a", *url)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert a["tables"] <= existing(moto_url)["tables"]

    # a delete keeps the tenant's tables and bucket (test_infra_failures.py); --purge deletes them too
    deleted = tool("delete", "--tenant", "district-a", "--yes", "--purge", *url)
    assert deleted.returncode == 0, deleted.stderr
    have = existing(moto_url)
    for kind in a:
        assert a[kind].isdisjoint(have[kind]), kind
        assert b[kind] <= have[kind], kind
    assert authenticates(moto_url, "district-b", deployed["district-b"])
    assert [line.split("\t")[0] for line in tool("list", *url).stdout.splitlines()] == ["district-b"]


def test_unknown_tenant_and_second_deploy_are_refused(moto_url: str) -> None:
    url = ["--endpoint-url", moto_url, "--poll", "0.2"]
    for action in ("update", "delete"):
        extra = ["--data-plane-only"] if action == "update" else ["--yes"]
        done = tool(action, "--tenant", "nobody", *extra, *url)
        assert done.returncode == 1
        assert "unknown tenant nobody (stage dev): no stack classtop--nobody--dev" in done.stderr
    first = tool("deploy", "--tenant", "district-c", "--data-plane-only", "--no-admin-token", *url)
    assert first.returncode == 0, first.stderr
    again = tool("deploy", "--tenant", "district-c", "--data-plane-only", *url)
    assert again.returncode == 1 and "already has stack classtop--district-c--dev" in again.stderr
    assert "use `tenant update`" in again.stderr
    # --no-admin-token skipped the token; admin-token issues one later
    assert "admin token" not in first.stdout
    issued = tool("admin-token", "--tenant", "district-c", *url)
    match = TOKEN_RE.search(issued.stdout)
    assert issued.returncode == 0 and match and authenticates(moto_url, "district-c", match.group(1))
    nobody = tool("admin-token", "--tenant", "nobody", *url)
    assert nobody.returncode == 1 and "unknown tenant nobody" in nobody.stderr
    # a data-plane stack is never turned into a full one (that would replace the tables)
    full = tool("update", "--tenant", "district-c", *url)
    assert full.returncode == 2 and "--data-plane-only" in full.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["--tenant", "Bad_Tenant"], "--tenant: "),
    (["--tenant", "a" * 21], "--tenant: "),
    (["--tenant", "ok", "--stage", "Prod"], "--stage: invalid stage"),
    (["--tenant", "a--b"], "--tenant: invalid tenant"),
    (["--tenant", "ok", "--stage", "dev-"], "--stage: invalid stage"),
    (["--tenant", "ok", "--endpoint-url", "localhost:4566"], "--endpoint-url: not an http(s) URL"),
    (["--tenant", "ok", "--media-retention-days", "0"], "--media-retention-days"),
])
def test_invalid_input_is_refused_before_any_aws_call(args: list[str], message: str) -> None:
    done = tool("deploy", "--data-plane-only", *args)
    assert done.returncode == 2
    assert message in done.stderr


def test_missing_credentials_get_a_clear_message(moto_url: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CLASSTOP_"))}
    env.update(AWS_DEFAULT_REGION=REGION, AWS_CONFIG_FILE=str(tmp_path / "none"), HOME=str(tmp_path),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"), AWS_EC2_METADATA_DISABLED="true")
    done = tool("list", "--endpoint-url", moto_url, env=env)
    assert done.returncode == 1
    assert "no AWS credentials" in done.stderr
    env.pop("AWS_DEFAULT_REGION")
    done = tool("list", "--endpoint-url", moto_url, env={**env, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"})
    assert done.returncode == 1 and "no AWS region" in done.stderr


def test_an_unreachable_endpoint_gets_a_clear_message() -> None:
    done = tool("list", "--endpoint-url", f"http://127.0.0.1:{free_port()}")
    assert done.returncode == 1 and "cannot reach" in done.stderr


def test_a_failed_stack_gets_a_clear_message() -> None:
    # its own moto server: moto keeps a half-created stack around after a failure
    server, url = start_moto()
    try:
        client("iot", url).create_policy(policyName="classtop--district-x--dev--site-policy",
                                         policyDocument='{"Version": "2012-10-17", "Statement": []}')
        done = tool("deploy", "--tenant", "district-x", "--data-plane-only", "--endpoint-url", url, "--poll", "0.2")
        assert done.returncode == 1
        assert "cannot create stack classtop--district-x--dev" in done.stderr
        assert "classtop--district-x--dev--site-policy" in done.stderr
        assert "admin token" not in done.stdout
    finally:
        server.stop()


def test_a_full_deploy_uploads_the_package_and_fails_clearly_where_moto_stops(moto_url: str, tmp_path: Path) -> None:
    """The full template: built (chalice package, shared/ vendored), uploaded with the nested data plane and the
    root template pointing at both; moto's CloudFormation then cannot create SAM resources - a failed stack."""
    bucket = "classtop-artifacts-test"
    done = tool("deploy", "--tenant", "full", "--artifact-bucket", bucket, "--endpoint-url", moto_url, "--poll", "0.2")
    assert done.returncode == 1
    assert "cannot create stack classtop--full--dev" in done.stderr and "admin token" not in done.stdout
    # API Gateway's CloudWatch role (an account setting access logging needs) was set, to a role it may assume
    role_arn = client("apigateway", moto_url).get_account()["cloudwatchRoleArn"]
    role = client("iam", moto_url).get_role(RoleName=role_arn.rsplit("/", 1)[1])["Role"]
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": "apigateway.amazonaws.com"}]
    s3 = client("s3", moto_url)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert all(key.startswith("classtop/full/dev/") for key in keys) and len(keys) == 3
    templates = {}
    for key in keys:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        if key.endswith(".zip"):
            (tmp_path / "code.zip").write_bytes(body)
            code_key = key
        else:
            templates[key] = yaml.safe_load(body)
    with zipfile.ZipFile(tmp_path / "code.zip") as package:
        names = set(package.namelist())
    assert {"app.py", "chalicelib/__init__.py", "shared/topics.py", "shared/__init__.py"} <= names
    roots = [t for t in templates.values() if "Transform" in t]
    assert len(roots) == 1
    resources = roots[0]["Resources"]
    uris = {r["Properties"]["CodeUri"] for r in resources.values() if r["Type"] == "AWS::Serverless::Function"}
    assert uris == {f"s3://{bucket}/{code_key}"}
    nested = resources["DataPlane"]["Properties"]["TemplateURL"]
    nested_key = nested.split(".amazonaws.com/", 1)[1]
    assert nested.startswith(f"https://{bucket}.s3.{REGION}.amazonaws.com/") and nested_key in templates
    assert "Transform" not in templates[nested_key]
