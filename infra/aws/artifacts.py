"""Turn a built template into a deployable one: upload the Lambda package and the nested data-plane template
and point ``CodeUri`` / ``TemplateURL`` at them (what ``aws cloudformation package`` does).

Keys are content-addressed (SHA-256), so an unchanged build uploads nothing new and an update with new code
always changes ``CodeUri`` (which is what makes CloudFormation update the functions).
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.aws import root

SERVERLESS_FUNCTION = "AWS::Serverless::Function"
NESTED_STACK = "AWS::CloudFormation::Stack"


@dataclass(frozen=True, slots=True)
class Artifact:
    path: Path
    key: str


def artifact_key(prefix: str, path: Path) -> Artifact:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:32]
    return Artifact(path=path, key=f"{prefix}/{digest}{path.suffix}")


def object_url(bucket: str, key: str, *, region: str) -> str:
    """The HTTPS URL CloudFormation fetches a template from (moto reads the bucket and key from it too)."""
    return f"https://{bucket}.s3.{region}.amazonaws.com/{key}"


def point_at_artifacts(template: dict[str, Any], *, code_uri: str, data_plane_url: str) -> dict[str, Any]:
    """A copy of ``template`` whose functions run ``code_uri`` (``s3://bucket/key``) and whose nested data
    plane comes from ``data_plane_url``."""
    result = copy.deepcopy(template)
    for resource in result.get("Resources", {}).values():
        if resource.get("Type") == SERVERLESS_FUNCTION:
            resource["Properties"]["CodeUri"] = code_uri
        elif resource.get("Type") == NESTED_STACK and resource["Properties"].get("TemplateURL") == root.DATA_PLANE_PATH:
            resource["Properties"]["TemplateURL"] = data_plane_url
    return result
