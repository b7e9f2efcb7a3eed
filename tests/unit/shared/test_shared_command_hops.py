"""The wire of issue 14: ``Command.command_id`` and ``AgentResult.hops`` round-trip, are optional (old shapes still
decode and encode unchanged), and refuse what is not theirs."""

from __future__ import annotations

import json

import pytest

from shared.errors import MessageError
from shared.messages import AgentResult, Command, CommandResults, CommandStatus, decode, encode
from shared.messages.command import SITE_HOPS, CommandHop, status_rank


def test_command_id_round_trips_and_is_optional() -> None:
    with_id = Command(request_id="l1a2b3c4-7", command="ping", command_id="0f" * 16)
    assert decode(Command, encode(with_id)) == with_id
    old = Command(request_id="l1a2b3c4-8", command="ping")
    assert "command_id" not in json.loads(encode(old))  # the site's own commands keep the old shape
    assert decode(Command, b'{"type":"command","v":1,"request_id":"r","command":"ping"}').command_id is None


def test_hops_round_trip_and_are_optional() -> None:
    hops = {CommandHop.RECEIVED: 1.5, CommandHop.DELIVERED: 2.0, CommandHop.STARTED: 2.25, CommandHop.FINISHED: 3}
    message = CommandResults(results=[AgentResult(request_id="c1", agent_id="pc-1", status=CommandStatus.SUCCEEDED,
                                                  timestamp=4.0, hops=hops)])
    assert decode(CommandResults, encode(message)) == message
    old = {"type": "command_results", "v": 1, "results": [{"request_id": "c1", "agent_id": "pc-1",
                                                           "status": "delivered", "timestamp": 1.0}]}
    assert decode(CommandResults, json.dumps(old)).results[0].hops is None


@pytest.mark.parametrize("hops", [{"stored": 1.0}, {"created": 1.0}, {"sent": 1.0}, {"x": 1.0}, {"received": -1},
                                  {"received": "soon"}, {"received": 1e15}])
def test_a_site_reports_only_its_own_hops(hops: object) -> None:
    raw = {"type": "command_results", "v": 1, "results": [{"request_id": "c1", "agent_id": "pc-1",
                                                           "status": "running", "timestamp": 1.0, "hops": hops}]}
    with pytest.raises(MessageError, match="hops"):
        decode(CommandResults, json.dumps(raw))


def test_hops_are_in_path_order_and_ranks_only_go_forward() -> None:
    assert [h.value for h in CommandHop] == ["created", "sent", "received", "queued", "delivered", "started",
                                             "finished", "stored"]
    assert {CommandHop.RECEIVED, CommandHop.QUEUED, CommandHop.DELIVERED, CommandHop.STARTED,
                         CommandHop.FINISHED} == SITE_HOPS
    order = [CommandStatus.PENDING, CommandStatus.QUEUED, CommandStatus.DELIVERED, CommandStatus.RUNNING]
    assert [status_rank(s) for s in order] == sorted({status_rank(s) for s in order})
    assert {status_rank(s) for s in CommandStatus if s.terminal} == {status_rank(CommandStatus.RUNNING) + 1}
