"""The data-plane template against the code it derives from: tables from chalicelib.models.MODELS (keys,
GSIs, TTL), names from Settings.table_name, parameter patterns from the code's own checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pynamodb.attributes import TTLAttribute

from chalicelib.config import Settings
from chalicelib.models import MODELS
from infra.aws.cfn import instantiate
from infra.aws.cfn_eval import NAME_PROPERTIES, TemplateEval
from infra.aws.data_plane import data_plane_template, table_logical_id

ROOT = Path(__file__).resolve().parents[3]


def committed() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "infra/aws/data-plane.yaml").read_text())
    return data


def resolved(template: dict[str, Any], tenant: str, stage: str) -> dict[str, Any]:
    """Every resource as CloudFormation would create it for the tenant's stage (``infra.aws.cfn_eval``)."""
    stack = TemplateEval(template, {"TenantId": tenant, "Stage": stage, "MediaRetentionDays": "90"},
                         stack_name=f"classtop--{tenant}--{stage}", region="eu-west-1", account="123456789012")
    return {r.logical_id: {"Type": r.type, "Name": r.name, "Properties": r.properties} for r in stack.resources()}


def test_every_model_has_its_table_with_keys_indexes_and_ttl() -> None:
    resources = resolved(committed(), "district-a", "prod")
    tables = {lid: r for lid, r in resources.items() if r["Type"] == "AWS::DynamoDB::Table"}
    assert sorted(tables) == sorted(table_logical_id(m.AGGREGATE) for m in MODELS)
    settings = Settings(tenant="district-a", stage="prod", region="eu-west-1")
    for model in MODELS:
        props = tables[table_logical_id(model.AGGREGATE)]["Properties"]
        assert props["TableName"] == settings.table_name(model.AGGREGATE)
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        keys = {k["KeyType"]: k["AttributeName"] for k in props["KeySchema"]}
        assert keys.get("HASH") == model._hash_keyname and keys.get("RANGE") == model._range_keyname
        assert props["KeySchema"][0]["KeyType"] == "HASH"
        schema = model._get_schema()
        want = {i["index_name"]: {k["KeyType"]: k["AttributeName"] for k in i["key_schema"]}
                for i in schema["global_secondary_indexes"]}
        retiring = {name: {"HASH": h, "RANGE": r} for name, (h, r) in getattr(model, "RETIRING_INDEXES", {}).items()}
        got = {i["IndexName"]: {k["KeyType"]: k["AttributeName"] for k in i["KeySchema"]}
               for i in props.get("GlobalSecondaryIndexes", [])}
        assert got == {**want, **retiring}
        projections = {i["IndexName"]: i["Projection"] for i in props.get("GlobalSecondaryIndexes", [])}
        for index in schema["global_secondary_indexes"]:  # the model's projection, which its readers rely on
            assert projections[index["index_name"]]["ProjectionType"] == index["projection"]["ProjectionType"]
        assert all(projections[name] == {"ProjectionType": "ALL"} for name in retiring)
        defined = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
        used = {name for key in [keys, *got.values()] for name in key.values()}
        assert set(defined) == used  # CloudFormation rejects unused or missing definitions
        ttl = [a.attr_name for a in model.get_attributes().values() if isinstance(a, TTLAttribute)]
        if ttl:
            assert props["TimeToLiveSpecification"] == {"AttributeName": ttl[0], "Enabled": True}
        else:
            assert "TimeToLiveSpecification" not in props


def test_two_tenants_share_no_name() -> None:
    template = committed()

    named = [r for r in template["Resources"].values() if r["Type"] in NAME_PROPERTIES]

    def names(tenant: str) -> set[str]:
        return {r["Name"] for r in resolved(template, tenant, "dev").values() if r["Type"] in NAME_PROPERTIES}

    a, b = names("district-a"), names("district-b")
    assert len(a) == len(named) and all(NAME_PROPERTIES[r["Type"]] in r["Properties"] for r in named)
    assert a.isdisjoint(b)
    assert all("district-a" in name for name in a)


def test_parameters_enforce_the_codes_own_rules() -> None:
    import re

    from shared import names

    params = committed()["Parameters"]
    for name, limit in (("TenantId", names.TENANT_MAX), ("Stage", names.STAGE_MAX)):
        assert params[name]["AllowedPattern"] == names.WORDS_PATTERN
        assert params[name]["MaxLength"] == limit
    # the bucket name of the longest tenant and stage is a valid S3 name
    longest = names.resource_name(names.Namespace("a" * names.TENANT_MAX, "b" * names.STAGE_MAX), "1" * 12)
    assert len(longest) <= 63
    assert re.fullmatch(params["TenantId"]["AllowedPattern"], "district-a")
    assert not re.fullmatch(params["TenantId"]["AllowedPattern"], "district--a")


def test_generator_output_is_deterministic_and_matches_the_committed_file() -> None:
    from infra.aws import yaml_io

    first = yaml_io.dump(data_plane_template())
    assert first == yaml_io.dump(data_plane_template())
    assert first == (ROOT / "infra/aws/data-plane.yaml").read_text(), "run: python -m infra.aws.template"


def test_instantiate_substitutes_only_what_it_is_given() -> None:
    node = {"A": {"Fn::Sub": "x-${TenantId}"}, "B": {"Fn::Sub": "${AWS::Region}-${TenantId}-${!iot:ClientId}"},
            "C": [{"Fn::Sub": "${!iot:ClientId}"}], "D": {"Ref": "TenantId"}}
    assert instantiate(node, {"TenantId": "t"}) == {
        "A": "x-t", "B": {"Fn::Sub": "${AWS::Region}-t-${!iot:ClientId}"}, "C": ["${iot:ClientId}"],
        "D": {"Ref": "TenantId"},
    }
