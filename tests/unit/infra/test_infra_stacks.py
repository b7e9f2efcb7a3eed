"""StackManager's waiting on a stack that ends badly - what moto's CloudFormation never does (it completes or
errors at once), so a scripted CloudFormation client stands in for AWS here."""

from __future__ import annotations

from typing import Any

import pytest

from infra.aws.errors import StackFailed
from infra.aws.stacks import StackManager


class ScriptedCloudFormation:
    """Answers describe_stacks with the next status of ``statuses`` and reveals one more event per poll."""

    def __init__(self, statuses: list[str], events: list[dict[str, Any]]) -> None:
        self._statuses = statuses
        self._events = events
        self.polls = 0

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        status = self._statuses[min(self.polls, len(self._statuses) - 1)]
        self.polls += 1
        return {"Stacks": [{"StackName": StackName, "StackStatus": status, "Tags": [], "Outputs": []}]}

    def describe_stack_events(self, StackName: str) -> dict[str, Any]:
        return {"StackEvents": list(reversed(self._events[: self.polls]))}  # newest first, as AWS


class Clients:
    def __init__(self, cfn: ScriptedCloudFormation) -> None:
        self._cfn = cfn

    def client(self, service: str) -> ScriptedCloudFormation:
        assert service == "cloudformation"
        return self._cfn


def event(n: int, resource: str, status: str, reason: str = "") -> dict[str, Any]:
    return {"EventId": str(n), "LogicalResourceId": resource, "ResourceStatus": status, "ResourceStatusReason": reason}


def manager(cfn: ScriptedCloudFormation, lines: list[str], timeout_s: float = 60.0) -> StackManager:
    return StackManager(Clients(cfn), progress=lines.append, poll_s=0.001, timeout_s=timeout_s)  # type: ignore[arg-type]


def test_a_rolled_back_create_raises_with_the_failed_resources_reason() -> None:
    events = [
        event(1, "classtop-t-dev", "CREATE_IN_PROGRESS", "User Initiated"),
        event(2, "TokenTable", "CREATE_FAILED", "Table already exists: classtop-t-dev-token"),
        event(3, "classtop-t-dev", "ROLLBACK_COMPLETE"),
    ]
    cfn = ScriptedCloudFormation(["CREATE_IN_PROGRESS", "ROLLBACK_IN_PROGRESS", "ROLLBACK_COMPLETE"], events)
    lines: list[str] = []
    with pytest.raises(StackFailed) as failed:
        manager(cfn, lines).wait("classtop-t-dev", "create")
    assert "create of stack classtop-t-dev failed (ROLLBACK_COMPLETE)" in failed.value.message
    assert "TokenTable: Table already exists: classtop-t-dev-token" in failed.value.message
    assert len(lines) == 3 and "CREATE_FAILED" in lines[1]  # each event shown once, oldest first


def test_events_of_earlier_operations_are_not_shown_again() -> None:
    events = [event(1, "s", "CREATE_COMPLETE"), event(2, "s", "UPDATE_IN_PROGRESS"), event(3, "s", "UPDATE_COMPLETE")]
    cfn = ScriptedCloudFormation(["UPDATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", "UPDATE_COMPLETE"], events)
    lines: list[str] = []
    info = manager(cfn, lines).wait("s", "update", seen={"1"})
    assert info.status == "UPDATE_COMPLETE"
    assert [line.split()[1] for line in lines] == ["UPDATE_IN_PROGRESS", "UPDATE_COMPLETE"]


def test_a_stack_that_never_settles_times_out() -> None:
    cfn = ScriptedCloudFormation(["UPDATE_IN_PROGRESS"], [])
    with pytest.raises(StackFailed, match="still UPDATE_IN_PROGRESS"):
        manager(cfn, [], timeout_s=0.0).wait("s", "update")
