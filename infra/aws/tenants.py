"""Deploying a tenant: build, upload, create/update the stack, issue the first admin token.

Two shapes of a tenant's stack (tag ``classtop:plane``):

* ``full``: ``template.yaml`` (Chalice API and functions, IoT rules, the data plane nested) - for AWS;
* ``data``: ``infra/aws/data-plane.yaml`` alone (``--data-plane-only``) - what moto's CloudFormation can
  deploy (it cannot deploy SAM, API Gateway from Chalice or IoT topic rules), used by the tests and the local
  twin. A stack keeps its shape: an update never turns one into the other (that would replace the tables).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from infra.aws import alarms, artifacts, dashboard, data_plane, http_api, logs, yaml_io
from infra.aws.admin_token import IssuedAdmin, create_first_admin
from infra.aws.api_logging import ensure_api_gateway_logging
from infra.aws.cfn import instantiate
from infra.aws.clients import Clients, aws_errors
from infra.aws.errors import DataKept, StackExists, StackFailed, StackNotFound, UsageError
from infra.aws.retained import Retained, RetainedData
from infra.aws.stacks import TAG_PLANE, TAG_STAGE, TAG_TENANT, StackInfo, StackManager, StackRequest, stack_name
from infra.aws.template import build

PLANE_FULL, PLANE_DATA = "full", "data"


@dataclass(frozen=True, slots=True)
class Target:
    tenant: str
    stage: str
    data_plane_only: bool = False
    artifact_bucket: str | None = None
    media_retention_days: int = data_plane.DEFAULT_MEDIA_RETENTION_DAYS
    log_retention_days: int = logs.DEFAULT_LOG_RETENTION_DAYS
    #: told of every alarm (template parameter ``AlarmEmail``); empty: nobody
    alarm_email: str = ""
    #: the operations dashboard (template parameter ``CloudWatchDashboard``; $3 a month): off by default
    dashboard: bool = False
    #: keep the REST API of releases before the HTTP API while sites still use its URL (``LegacyRestApi``)
    legacy_rest_api: bool = False
    #: an update may delete the REST API a stack has (without it, such an update is refused)
    drop_legacy_rest_api: bool = False

    @property
    def stack(self) -> str:
        return stack_name(self.tenant, self.stage)

    @property
    def plane(self) -> str:
        return PLANE_DATA if self.data_plane_only else PLANE_FULL


@dataclass(frozen=True, slots=True)
class Deployed:
    stack: StackInfo
    admin: IssuedAdmin | None


def root_parameters(target: Target) -> dict[str, str]:
    """The full stack's parameters beyond the data plane's (``infra/aws/root.py``)."""
    return {
        logs.LOG_RETENTION_PARAMETER: str(target.log_retention_days),
        alarms.ALARM_EMAIL_PARAMETER: target.alarm_email,
        dashboard.PARAMETER: "true" if target.dashboard else "false",
        http_api.LEGACY_PARAMETER: "true" if target.legacy_rest_api else "false",
    }


class Tenants:
    def __init__(self, clients: Clients, stacks: StackManager, *, progress: Callable[[str], None] = print) -> None:
        self._clients = clients
        self._stacks = stacks
        self._progress = progress
        self._retained = RetainedData(clients, progress=progress)

    def deploy(self, target: Target, *, admin_token: bool = True) -> Deployed:
        existing = self._stacks.describe(target.stack)
        if existing is not None:
            hint = ("delete it first" if existing.status.endswith(("ROLLBACK_COMPLETE", "FAILED"))
                    else "use `tenant update`")
            raise StackExists(f"tenant {target.tenant} (stage {target.stage}) already has stack {target.stack} "
                              f"({existing.status}): {hint}")
        kept = self._retained.existing(target.tenant, target.stage)
        if kept:
            raise DataKept(
                f"tenant {target.tenant} (stage {target.stage}) still has the data its deleted stack kept: "
                f"{', '.join(map(str, kept))}. A new stack cannot be created over it: delete it for good with "
                f"`classtop tenant delete --tenant {target.tenant} --stage {target.stage} --purge --yes` (export "
                "what you need first), or import it into a stack by hand (CloudFormation resource import)")
        with tempfile.TemporaryDirectory(prefix="classtop-deploy-") as tmp:
            request = self._request(target, Path(tmp))
            self._progress(f"creating stack {target.stack} ({target.plane} plane)")
            info = self._stacks.create(request)
        admin = None
        if admin_token:
            self._progress("creating the first admin token")
            admin = create_first_admin(target.tenant, target.stage, region=self._clients.region,
                                       endpoint_url=self._clients.endpoint_url)
        return Deployed(stack=info, admin=admin)

    def update(self, target: Target) -> StackInfo | None:
        existing = self._stacks.require(target.stack, f"tenant {target.tenant} (stage {target.stage})")
        if existing.plane != target.plane:
            flag = "with" if existing.plane == PLANE_DATA else "without"
            raise UsageError(f"stack {target.stack} holds the {existing.plane} plane: update it {flag} "
                             "--data-plane-only (changing the shape would replace the tenant's tables)")
        if existing.status.endswith(("ROLLBACK_COMPLETE", "FAILED")) and existing.status != "UPDATE_ROLLBACK_COMPLETE":
            raise StackFailed(f"stack {target.stack} is {existing.status}: it cannot be updated, delete it first")
        self._check_rest_api_kept_or_dropped(existing, target)
        with tempfile.TemporaryDirectory(prefix="classtop-deploy-") as tmp:
            request = self._request(target, Path(tmp))
            self._progress(f"updating stack {target.stack}")
            return self._stacks.update(request)

    @staticmethod
    def _check_rest_api_kept_or_dropped(existing: StackInfo, target: Target) -> None:
        """A stack with a REST API (every stack made before the HTTP API, and one kept with ``--legacy-rest-api``)
        is updated only with a word on it: deleting it silently would cut off the sites still using its URL."""
        if target.data_plane_only or http_api.REST_API_OUTPUT not in existing.outputs:
            return
        if target.legacy_rest_api == target.drop_legacy_rest_api:
            url = existing.outputs.get(http_api.LEGACY_ENDPOINT_OUTPUT) or existing.outputs.get(
                http_api.ENDPOINT_OUTPUT, "")
            raise UsageError(
                f"stack {target.stack} has the REST API of earlier releases ({url}), which sites may still call: "
                "update with --legacy-rest-api to keep it beside the new HTTP API while they move to the new "
                "EndpointURL, or with --drop-legacy-rest-api to delete it (docs/deploy.md, Upgrade notes)")

    def delete(self, tenant: str, stage: str, *, purge: bool = False) -> list[Retained]:
        """Delete the tenant's stack. Its tables and bucket are kept (returned) unless ``purge``, which deletes
        them too - also when the stack is already gone and only the kept data remains."""
        name = stack_name(tenant, stage)
        info = self._stacks.describe(name)
        if info is None:
            kept = self._retained.existing(tenant, stage)
            if not kept:
                self._stacks.require(name, f"tenant {tenant} (stage {stage})")  # raises: unknown tenant
            if not purge:
                raise StackNotFound(f"tenant {tenant} (stage {stage}) has no stack {name}; the data it kept "
                                    f"remains ({', '.join(map(str, kept))}): add --purge to delete it")
            self._retained.purge(kept)
            return []
        policy = info.outputs.get("SitePolicyName")
        if policy:
            self._release_policy(policy)
        self._progress(f"deleting stack {name}")
        self._stacks.delete(name)
        kept = self._retained.existing(tenant, stage)
        if purge:
            self._retained.purge(kept)
            return []
        return kept

    def _release_policy(self, policy: str) -> None:
        """Detach the site policy from every certificate and drop its old versions: IoT refuses to delete a
        policy that is attached or has non-default versions, which would fail the stack's deletion."""
        iot = self._clients.client("iot")
        with aws_errors(f"release IoT policy {policy}"):
            for page in iot.get_paginator("list_targets_for_policy").paginate(policyName=policy):
                for target in page.get("targets", []):
                    self._progress(f"detaching {policy} from {target}")
                    iot.detach_policy(policyName=policy, target=target)
            for version in iot.list_policy_versions(policyName=policy).get("policyVersions", []):
                if not version["isDefaultVersion"]:
                    iot.delete_policy_version(policyName=policy, policyVersionId=version["versionId"])

    def list(self) -> list[StackInfo]:
        return self._stacks.list()

    # ---------------------------------------------------------------- building the request

    def _request(self, target: Target, work: Path) -> StackRequest:
        parameters = {
            "TenantId": target.tenant,
            "Stage": target.stage,
            "MediaRetentionDays": str(target.media_retention_days),
        }
        tags = {TAG_TENANT: target.tenant, TAG_STAGE: target.stage, TAG_PLANE: target.plane}
        if target.data_plane_only:
            template = instantiate(data_plane.data_plane_template(), {"TenantId": target.tenant, "Stage": target.stage})
            body = yaml_io.dump(template)
            return StackRequest(name=target.stack, parameters=parameters, tags=tags, template_body=body)
        parameters.update(root_parameters(target))
        ensure_api_gateway_logging(self._clients, progress=self._progress)
        self._progress("building template.yaml and the Lambda package (chalice package)")
        built = build(work / "build", zip_dir=work / "zip")
        assert built.zip_path is not None
        bucket = target.artifact_bucket or self._default_bucket()
        self._ensure_bucket(bucket)
        prefix = f"classtop/{target.tenant}/{target.stage}"
        code = self._upload(bucket, artifacts.artifact_key(prefix, built.zip_path))
        nested = self._upload(bucket, artifacts.artifact_key(prefix, built.data_plane_path))
        template = artifacts.point_at_artifacts(
            yaml_io.load(built.template_path),
            code_uri=f"s3://{bucket}/{code}",
            data_plane_url=self._url(bucket, nested),
        )
        root_path = work / "template.deploy.yaml"
        root_path.write_text(yaml_io.dump(template), encoding="utf-8")
        root_key = self._upload(bucket, artifacts.artifact_key(prefix, root_path))
        parameters["IotDataEndpoint"] = self._iot_endpoint()
        return StackRequest(name=target.stack, parameters=parameters, tags=tags,
                            template_url=self._url(bucket, root_key))

    def _default_bucket(self) -> str:
        return f"classtop-artifacts-{self._clients.account_id()}-{self._clients.region}"

    def _ensure_bucket(self, bucket: str) -> None:
        s3 = self._clients.client("s3")
        with aws_errors(f"use artifact bucket {bucket}"):
            existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
            if bucket in existing:
                return
            self._progress(f"creating artifact bucket {bucket}")
            if self._clients.region == "us-east-1":
                s3.create_bucket(Bucket=bucket)
            else:
                s3.create_bucket(Bucket=bucket,
                                 CreateBucketConfiguration={"LocationConstraint": self._clients.region})

    def _upload(self, bucket: str, artifact: artifacts.Artifact) -> str:
        self._progress(f"uploading {artifact.path.name} -> s3://{bucket}/{artifact.key}")
        with aws_errors(f"upload {artifact.path.name} to s3://{bucket}"):
            self._clients.client("s3").upload_file(str(artifact.path), bucket, artifact.key)
        return artifact.key

    def _url(self, bucket: str, key: str) -> str:
        return artifacts.object_url(bucket, key, region=self._clients.region)

    def _iot_endpoint(self) -> str:
        with aws_errors("look up the IoT data endpoint (iot:DescribeEndpoint)"):
            return str(self._clients.client("iot").describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"])
