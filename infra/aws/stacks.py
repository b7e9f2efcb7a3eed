"""CloudFormation stacks of tenants: create, update, delete, list, and wait with progress.

A tenant's stack is ``classtop--{tenant}--{stage}`` (``shared.names.stack_name``), tagged ``classtop:tenant``,
``classtop:stage`` and
``classtop:plane`` (``full``: template.yaml; ``data``: the data plane alone).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from infra.aws.clients import Clients, aws_errors
from infra.aws.errors import AwsError, StackFailed, StackNotFound
from shared import names

STACK_PREFIX = names.PRODUCT + names.SEP
TAG_TENANT, TAG_STAGE, TAG_PLANE = "classtop:tenant", "classtop:stage", "classtop:plane"
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
_DONE_OK = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "DELETE_COMPLETE", "IMPORT_COMPLETE"}
_DONE_BAD = {
    "CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED", "UPDATE_ROLLBACK_COMPLETE",
    "UPDATE_ROLLBACK_FAILED", "UPDATE_FAILED", "IMPORT_ROLLBACK_COMPLETE", "IMPORT_ROLLBACK_FAILED",
}
_LISTED = [
    "CREATE_IN_PROGRESS", "CREATE_FAILED", "CREATE_COMPLETE", "ROLLBACK_IN_PROGRESS", "ROLLBACK_FAILED",
    "ROLLBACK_COMPLETE", "DELETE_IN_PROGRESS", "DELETE_FAILED", "UPDATE_IN_PROGRESS",
    "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_COMPLETE", "UPDATE_FAILED", "UPDATE_ROLLBACK_IN_PROGRESS",
    "UPDATE_ROLLBACK_FAILED", "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE",
]


def stack_name(tenant: str, stage: str) -> str:
    return names.stack_name(names.Namespace(tenant, stage))


@dataclass(frozen=True, slots=True)
class StackInfo:
    name: str
    status: str
    tenant: str | None
    stage: str | None
    plane: str | None
    outputs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StackRequest:
    name: str
    parameters: dict[str, str]
    tags: dict[str, str]
    template_body: str | None = None
    template_url: str | None = None


class StackManager:
    def __init__(self, clients: Clients, *, progress: Callable[[str], None] = print, poll_s: float = 5.0,
                 timeout_s: float = 3600.0) -> None:
        self._clients = clients
        self._progress = progress
        self._poll_s = poll_s
        self._timeout_s = timeout_s

    @property
    def _cfn(self) -> Any:
        return self._clients.client("cloudformation")

    # ---------------------------------------------------------------- queries

    def describe(self, name: str) -> StackInfo | None:
        try:
            with aws_errors(f"describe stack {name}"):
                stacks = self._cfn.describe_stacks(StackName=name)["Stacks"]
        except StackNotFound:
            return None
        if not stacks or stacks[0]["StackStatus"] == "DELETE_COMPLETE":
            return None
        return _info(stacks[0])

    def require(self, name: str, what: str) -> StackInfo:
        info = self.describe(name)
        if info is None:
            raise StackNotFound(f"unknown {what}: no stack {name} (deploy it first, or check --tenant/--stage/"
                                "--region)")
        return info

    def list(self) -> list[StackInfo]:
        result: list[StackInfo] = []
        with aws_errors("list stacks"):
            for page in self._cfn.get_paginator("describe_stacks").paginate():
                for stack in page["Stacks"]:
                    info = _info(stack)
                    if stack["StackName"].startswith(STACK_PREFIX) and info.tenant and info.status in _LISTED:
                        result.append(info)
        return sorted(result, key=lambda s: s.name)

    # ---------------------------------------------------------------- changes

    def create(self, request: StackRequest) -> StackInfo:
        with aws_errors(f"create stack {request.name}"):
            self._cfn.create_stack(StackName=request.name, Capabilities=CAPABILITIES, OnFailure="ROLLBACK",
                                   **_common(request))
        return self.wait(request.name, "create")

    def update(self, request: StackRequest) -> StackInfo | None:
        """Update the stack; ``None`` when there was nothing to change."""
        seen = self._event_ids(request.name)
        try:
            with aws_errors(f"update stack {request.name}"):
                self._cfn.update_stack(StackName=request.name, Capabilities=CAPABILITIES, **_common(request))
        except AwsError as exc:
            if "No updates are to be performed" in exc.message:
                return None
            raise
        return self.wait(request.name, "update", seen=seen)

    def delete(self, name: str) -> None:
        with aws_errors(f"delete stack {name}"):
            stack_id = self._cfn.describe_stacks(StackName=name)["Stacks"][0]["StackId"]
        seen = self._event_ids(stack_id)
        with aws_errors(f"delete stack {name}"):
            self._cfn.delete_stack(StackName=name)
        # follow the stack by id: by name it "does not exist" as soon as it is gone
        self.wait(stack_id, "delete", display=name, seen=seen)

    def _event_ids(self, name: str) -> set[str]:
        with aws_errors(f"read the events of stack {name}"):
            events = self._cfn.describe_stack_events(StackName=name).get("StackEvents", [])
        return {e["EventId"] for e in events}

    def wait(self, name: str, operation: str, *, display: str | None = None, seen: set[str] | None = None) -> StackInfo:
        """Poll until the stack settles, printing each new stack event (``seen``: events of earlier operations);
        raise :class:`StackFailed` if it failed."""
        display = display or name
        seen = set(seen or ())
        failures: list[str] = []
        deadline = time.monotonic() + self._timeout_s
        while True:
            with aws_errors(f"follow stack {display}"):
                stack = self._cfn.describe_stacks(StackName=name)["Stacks"][0]
                events = self._cfn.describe_stack_events(StackName=name).get("StackEvents", [])
            for event in reversed(events):  # oldest first
                if event["EventId"] in seen:
                    continue
                seen.add(event["EventId"])
                reason = event.get("ResourceStatusReason") or ""
                self._progress(f"  {event['LogicalResourceId']:<32} {event['ResourceStatus']:<20} {reason}".rstrip())
                if event["ResourceStatus"].endswith("FAILED") and reason:
                    failures.append(f"{event['LogicalResourceId']}: {reason}")
            status = stack["StackStatus"]
            if status in _DONE_OK:
                return _info(stack)
            if status in _DONE_BAD:
                reasons = "; ".join(failures[-3:]) or stack.get("StackStatusReason") or "no reason given"
                raise StackFailed(f"{operation} of stack {display} failed ({status}): {reasons}")
            if time.monotonic() > deadline:
                raise StackFailed(f"{operation} of stack {display} still {status} after {self._timeout_s:.0f} s")
            time.sleep(self._poll_s)


def _common(request: StackRequest) -> dict[str, Any]:
    args: dict[str, Any] = {
        "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(request.parameters.items())],
        "Tags": [{"Key": k, "Value": v} for k, v in sorted(request.tags.items())],
    }
    if request.template_url is not None:
        args["TemplateURL"] = request.template_url
    else:
        args["TemplateBody"] = request.template_body
    return args


def _info(stack: dict[str, Any]) -> StackInfo:
    tags = {t["Key"]: t["Value"] for t in stack.get("Tags", [])}
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    return StackInfo(name=stack["StackName"], status=stack["StackStatus"], tenant=tags.get(TAG_TENANT),
                     stage=tags.get(TAG_STAGE), plane=tags.get(TAG_PLANE), outputs=outputs)
