"""The data a tenant's stack keeps when it is deleted: its tables and its media bucket (``DeletionPolicy:
Retain`` in the data plane), found by name and, on purpose only, deleted.

The names come from the data-plane template itself (every resource it retains, instantiated for the tenant's
stage and the account), so a new table is covered as soon as the cloud has its model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from infra.aws import data_plane
from infra.aws.cfn import instantiate
from infra.aws.cfn_eval import NAME_PROPERTIES
from infra.aws.clients import Clients, aws_errors
from infra.aws.errors import AwsError

TABLE, BUCKET = "AWS::DynamoDB::Table", "AWS::S3::Bucket"
_DELETE_BATCH = 1000  # S3 DeleteObjects' limit


@dataclass(frozen=True, slots=True)
class Retained:
    kind: str  # CloudFormation resource type
    name: str

    def __str__(self) -> str:
        return f"{'table' if self.kind == TABLE else 'bucket'} {self.name}"


def retained_resources(tenant: str, stage: str, account: str) -> list[Retained]:
    """Every resource the tenant stage's data plane keeps after the stack is gone, by physical name."""
    template = instantiate(data_plane.data_plane_template(),
                           {"TenantId": tenant, "Stage": stage, "AWS::AccountId": account})
    found = []
    for spec in template["Resources"].values():
        if spec.get("DeletionPolicy") != "Retain":
            continue
        if spec["Type"] not in (TABLE, BUCKET):
            raise AwsError(f"the data plane retains a {spec['Type']}, which the deploy tool cannot find or purge")
        name = spec["Properties"][NAME_PROPERTIES[spec["Type"]]]
        if not isinstance(name, str):
            raise AwsError(f"a retained {spec['Type']} has no literal name: {name!r}")
        found.append(Retained(spec["Type"], name))
    return sorted(found, key=lambda r: (r.kind, r.name))


class RetainedData:
    def __init__(self, clients: Clients, *, progress: Callable[[str], None] = print) -> None:
        self._clients = clients
        self._progress = progress

    def of(self, tenant: str, stage: str) -> list[Retained]:
        return retained_resources(tenant, stage, self._clients.account_id())

    def existing(self, tenant: str, stage: str) -> list[Retained]:
        """The tenant stage's retained resources that exist now."""
        return [r for r in self.of(tenant, stage) if self._exists(r)]

    def purge(self, items: list[Retained]) -> None:
        """Delete ``items`` for good: the bucket emptied (every object version) then deleted, the tables deleted."""
        for item in items:
            if item.kind == BUCKET:
                self._purge_bucket(item.name)
            else:
                self._purge_table(item.name)

    def _exists(self, item: Retained) -> bool:
        if item.kind == BUCKET:
            s3 = self._clients.client("s3")
            with aws_errors(f"look for bucket {item.name}"):
                names = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
            return item.name in names
        dynamodb = self._clients.client("dynamodb")
        try:
            with aws_errors(f"look for table {item.name}"):
                dynamodb.describe_table(TableName=item.name)
        except AwsError as exc:
            if "ResourceNotFoundException" in exc.message:
                return False
            raise
        return True

    def _purge_bucket(self, bucket: str) -> None:
        s3 = self._clients.client("s3")
        removed = 0
        with aws_errors(f"empty bucket {bucket}"):
            for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
                keys: list[dict[str, Any]] = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                                              for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]]
                for start in range(0, len(keys), _DELETE_BATCH):
                    batch = keys[start:start + _DELETE_BATCH]
                    s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
                    removed += len(batch)
        self._progress(f"emptied bucket {bucket} ({removed} object versions)")
        with aws_errors(f"delete bucket {bucket}"):
            s3.delete_bucket(Bucket=bucket)
        self._progress(f"deleted bucket {bucket}")

    def _purge_table(self, table: str) -> None:
        dynamodb = self._clients.client("dynamodb")
        with aws_errors(f"delete table {table}"):
            dynamodb.delete_table(TableName=table)
            dynamodb.get_waiter("table_not_exists").wait(TableName=table, WaiterConfig={"Delay": 2, "MaxAttempts": 150})
        self._progress(f"deleted table {table}")
