"""The committed tenant templates for static tests: as written, after AWS's SAM translator (what CloudFormation
deploys), and evaluated for one tenant stage by ``infra.aws.cfn_eval`` (names, ARNs and policies resolved)."""

from __future__ import annotations

import copy
import functools
import os
from pathlib import Path
from typing import Any
from unittest import mock

import yaml
from samtranslator.translator.transform import transform

from infra.aws.artifacts import point_at_artifacts
from infra.aws.cfn_eval import TemplateEval
from infra.aws.root import DATA_PLANE, DATA_PLANE_PATH
from infra.aws.stacks import stack_name

ROOT = Path(__file__).resolve().parents[3]
REGION, ACCOUNT = "eu-west-1", "123456789012"
TENANT, STAGE = "district-a", "prod"
PARAMS = {"TenantId": TENANT, "Stage": STAGE, "IotDataEndpoint": "abc123-ats.iot.eu-west-1.amazonaws.com",
          "MediaRetentionDays": "90"}


class _NoManagedPolicies:
    """The translator looks up AWS managed policies only for SAM ``Policies`` names; the template has none."""

    def load(self) -> dict[str, str]:
        return {}


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / name).read_text())
    return data


@functools.cache
def _translated() -> dict[str, Any]:
    template = point_at_artifacts(load("template.yaml"), code_uri="s3://artifacts/classtop/code.zip",
                                  data_plane_url="https://artifacts.s3.eu-west-1.amazonaws.com/data-plane.yaml")
    with mock.patch.dict(os.environ, {"AWS_DEFAULT_REGION": REGION}):  # the translator reads AWS::Region there
        result: dict[str, Any] = transform(template, dict(PARAMS), _NoManagedPolicies())
    return result


def translated() -> dict[str, Any]:
    """template.yaml through AWS's SAM translator: the plain CloudFormation that would be deployed."""
    return copy.deepcopy(_translated())


def evaluate(template: dict[str, Any] | None = None, *, tenant: str = TENANT, stage: str = STAGE,
             parameters: dict[str, str] | None = None) -> TemplateEval:
    """The root stack (``template``, default the committed template.yaml) with its nested data plane, evaluated
    for one tenant stage as CloudFormation would (``parameters``: more of the root's, e.g. ``AlarmEmail``)."""
    root = template if template is not None else load("template.yaml")
    params = {**PARAMS, "TenantId": tenant, "Stage": stage, **(parameters or {})}
    return TemplateEval(root, params, stack_name=stack_name(tenant, stage), region=REGION, account=ACCOUNT,
                        nested={DATA_PLANE_PATH: load(DATA_PLANE_PATH),
                                "https://artifacts.s3.eu-west-1.amazonaws.com/data-plane.yaml": load(DATA_PLANE_PATH)})


def data_plane_of(stack: TemplateEval) -> TemplateEval:
    return stack.nested(DATA_PLANE)
