"""Per-agent hops of a command (created, sent, received, queued, delivered, started, finished, stored) and the
progress states (queued, running) a site reports: stored in the command item, shown by ``GET /api/commands/{id}``,
only ever moving forward."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pynamodb.attributes import MapAttribute

from chalicelib.models import CommandModel
from chalicelib.services.command_results import ITEM_BUDGET_BYTES
from tests.unit.cloud.cloud_testkit import AwsCall, Cloud, around_aws_calls, online


def plain(attribute: MapAttribute[str, Any]) -> dict[str, Any]:
    """pynamodb's ``MapAttribute.as_dict()`` (untyped there)."""
    values: dict[str, Any] = attribute.as_dict()  # type: ignore[no-untyped-call]
    return values


@pytest.fixture
def fleet(cloud: Cloud) -> Cloud:
    cloud.heartbeat("s1", [online("a1"), online("a2")])
    cloud.heartbeat("s2", [online("b1")])
    return cloud


def create(cloud: Cloud, *agents: str, name: str = "exec", params: dict[str, Any] | None = None) -> str:
    response = cloud.post(
        "/api/commands",
        {"agent_ids": list(agents), "command": name, "params": params if params is not None else {"cmd": "true"}},
    )
    assert response.status_code == 202, response.json_body
    return str(response.json_body["data"]["command_id"])


def record(cloud: Cloud, command_id: str) -> dict[str, Any]:
    data: dict[str, Any] = cloud.get(f"/api/commands/{command_id}").json_body["data"]
    return data


def test_a_new_command_shows_created_and_sent_per_site(fleet: Cloud) -> None:
    created_at = fleet.clock.now
    cid = create(fleet, "a1", "b1")
    data = record(fleet, cid)
    for agent in ("a1", "b1"):
        assert data["results"][agent]["hops"] == {"created": created_at, "sent": created_at}


def test_progress_then_result_carries_every_hop_in_order(fleet: Cloud) -> None:
    t0 = fleet.clock.now
    cid = create(fleet, "a1")
    hops = {"received": t0 + 0.1, "queued": t0 + 0.2}
    fleet.clock.advance(1)
    assert fleet.results("s1", [{"request_id": cid, "agent_id": "a1", "status": "queued", "hops": hops}])["applied"]
    assert record(fleet, cid)["results"]["a1"]["status"] == "queued"
    hops = {**hops, "delivered": t0 + 3.0, "started": t0 + 3.1}
    fleet.clock.advance(3)
    fleet.results("s1", [{"request_id": cid, "agent_id": "a1", "status": "running", "hops": hops}])
    assert record(fleet, cid)["results"]["a1"]["status"] == "running"
    fleet.clock.advance(1)
    final = {**hops, "finished": t0 + 4.5}
    fleet.results("s1", [{"request_id": cid, "agent_id": "a1", "status": "succeeded", "success": True, "hops": final}])
    got = record(fleet, cid)["results"]["a1"]
    assert got["status"] == "succeeded"
    assert list(got["hops"]) == ["created", "sent", "received", "queued", "delivered", "started", "finished", "stored"]
    assert got["hops"]["queued"] == pytest.approx(t0 + 0.2)
    assert got["hops"]["finished"] == pytest.approx(t0 + 4.5)
    assert got["hops"]["stored"] == fleet.clock.now


def test_statuses_only_move_forward_and_first_hop_times_stay(fleet: Cloud) -> None:
    t0 = fleet.clock.now
    cid = create(fleet, "a1")
    fleet.results(
        "s1",
        [{"request_id": cid, "agent_id": "a1", "status": "running", "hops": {"delivered": t0 + 1, "started": t0 + 2}}],
    )
    late = fleet.results(
        "s1",
        [{"request_id": cid, "agent_id": "a1", "status": "queued", "hops": {"queued": t0 + 9, "delivered": t0 + 9}}],
    )
    assert late["applied"] == 0 and late["duplicates"] == 1
    got = record(fleet, cid)["results"]["a1"]
    assert got["status"] == "running"
    assert got["hops"]["delivered"] == pytest.approx(t0 + 1) and "queued" not in got["hops"]
    fleet.results(
        "s1",
        [
            {
                "request_id": cid,
                "agent_id": "a1",
                "status": "failed",
                "success": False,
                "error": "x",
                "hops": {"delivered": t0 + 5, "finished": t0 + 6},
            }
        ],
    )
    got = record(fleet, cid)["results"]["a1"]
    assert got["hops"]["delivered"] == pytest.approx(t0 + 1)  # the first time reported wins
    assert got["hops"]["finished"] == pytest.approx(t0 + 6)


@pytest.mark.parametrize(
    "hops",
    [
        {"stored": 1.0},  # the cloud's own hop: a site may not set it
        {"created": 1.0},
        {"received": -1.0},
        {"received": 1e12},  # not epoch seconds
        {"bogus": 1.0},
        ["received"],
    ],
)
def test_bad_hops_refuse_the_whole_message_and_store_nothing(fleet: Cloud, hops: Any) -> None:
    cid = create(fleet, "a1")
    before = record(fleet, cid)
    outcome = fleet.results("s1", [{"request_id": cid, "agent_id": "a1", "status": "running", "hops": hops}])
    assert outcome["ok"] is False and outcome["error"]["code"] == "bad_payload"
    assert record(fleet, cid) == before


def test_another_sites_hops_are_ignored(fleet: Cloud) -> None:
    cid = create(fleet, "a1")
    report = fleet.results(
        "s2", [{"request_id": cid, "agent_id": "a1", "status": "running", "hops": {"started": fleet.clock.now}}]
    )
    assert report["ignored"] == 1
    assert "started" not in record(fleet, cid)["results"]["a1"]["hops"]


def test_hops_are_stored_as_small_offsets(fleet: Cloud) -> None:
    """Each hop is whole ms after ``created_at`` in the item: a 500-agent batch with every hop stays far below
    the item budget (docs/api.md, "Commands")."""
    t0 = fleet.clock.now
    cid = create(fleet, "a1")
    fleet.results(
        "s1",
        [
            {
                "request_id": cid,
                "agent_id": "a1",
                "status": "succeeded",
                "success": True,
                "hops": {"received": t0 + 0.25, "delivered": t0 + 0.5, "started": t0 + 0.75, "finished": t0 + 1.0},
            }
        ],
    )
    raw = plain(CommandModel.get(cid, consistent_read=True).results)["a1"]["hops"]
    assert raw == {"received": 250, "delivered": 500, "started": 750, "finished": 1000, "stored": 0}
    per_agent = len(json.dumps({"hops": raw}))
    assert per_agent * 500 < ITEM_BUDGET_BYTES // 4


def test_the_sweeper_and_the_history_show_hops_too(fleet: Cloud) -> None:
    t0 = fleet.clock.now
    cid = create(fleet, "a1", "a2")
    fleet.results("s1", [{"request_id": cid, "agent_id": "a2", "status": "queued", "hops": {"queued": t0 + 1}}])
    fleet.clock.advance(2 * 24 * 3600)  # past the delivery window
    event = fleet.client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    fleet.invoke("expire_commands", event)
    got = record(fleet, cid)["results"]
    assert got["a2"]["status"] == "expired"
    assert list(got["a2"]["hops"]) == ["created", "sent", "queued", "stored"]
    assert got["a2"]["hops"]["stored"] == fleet.clock.now
    history = fleet.get("/api/agents/a2/commands").json_body["data"]["commands"]
    assert history[0]["result"]["hops"] == got["a2"]["hops"]


def test_a_lost_sent_hop_never_fails_a_command_that_went_out(fleet: Cloud) -> None:
    from botocore.exceptions import ClientError

    def throttled(call: AwsCall, client: Any, operation: str, params: Any) -> Any:
        if operation == "UpdateItem" and params["TableName"] == CommandModel.Meta.table_name:
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, operation
            )
        return call(client, operation, params)

    with around_aws_calls(throttled):
        cid = create(fleet, "a1")  # 202: the site has it; a retry by the caller would send it twice
    assert list(record(fleet, cid)["results"]["a1"]["hops"]) == ["created"]
    assert any(cid.encode() in m.payload for m in fleet.publisher.messages)  # the site's message went out


def test_the_sent_hop_writes_its_times_alone(fleet: Cloud) -> None:
    """The record is written whole once, when it is created; the ``sent`` hop is one UpdateItem of ``sent_at`` and
    the revision, conditional on the revision just written (it rewrote the whole item before)."""
    writes: list[tuple[str, Any]] = []

    def watch(call: AwsCall, client: Any, operation: str, params: Any) -> Any:
        if operation in ("PutItem", "UpdateItem") and params["TableName"] == CommandModel.Meta.table_name:
            writes.append((operation, params))
        return call(client, operation, params)

    with around_aws_calls(watch):
        cid = create(fleet, "a1", "b1")
    assert [op for op, _ in writes] == ["PutItem", "UpdateItem"]
    created, sent = (params for _, params in writes)
    assert "results" in created["Item"] and "sent_at" not in created["Item"]
    names = sent["ExpressionAttributeNames"]
    assert sorted(names.values()) == ["revision", "sent_at"]
    revision = next(name for name, attribute in names.items() if attribute == "revision")
    assert revision in sent["ConditionExpression"]
    stored = CommandModel.get(cid, consistent_read=True)
    assert plain(stored.sent_at) == {"s1": 0, "s2": 0} and stored.revision == 2


def test_results_stored_before_the_sent_hop_survive_it(fleet: Cloud) -> None:
    """A site fast enough to answer before the cloud stored the ``sent`` hop: its result stays, the hop is added."""
    from chalicelib import container

    recorder = fleet.publisher

    class FastSite:
        def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
            recorder.publish(topic, payload, qos)
            command_id = json.loads(payload)["request_id"]
            fleet.clock.advance(0.5)
            assert (
                fleet.results(
                    "s1",
                    [
                        {
                            "request_id": command_id,
                            "agent_id": "a1",
                            "status": "succeeded",
                            "success": True,
                            "hops": {"received": fleet.clock.now},
                        }
                    ],
                )["applied"]
                == 1
            )

    container.configure(publisher=FastSite())
    t0 = fleet.clock.now
    cid = create(fleet, "a1")
    got = record(fleet, cid)
    assert got["status"] == "succeeded"
    assert got["results"]["a1"]["status"] == "succeeded"
    assert got["results"]["a1"]["hops"] == {"created": t0, "sent": t0 + 0.5, "received": t0 + 0.5, "stored": t0 + 0.5}


def test_an_outcome_is_stored_without_its_empty_fields_and_read_alike_from_an_older_item(fleet: Cloud) -> None:
    """A pending agent's entry is its site, status and time (every write of the item is billed on its size); an
    item written when empty fields were stored as nulls reads the same."""
    cid = create(fleet, "a1", "a2")
    fleet.results(
        "s1",
        [
            {
                "request_id": cid,
                "agent_id": "a2",
                "status": "failed",
                "success": False,
                "error": "x",
                "error_code": "internal",
            }
        ],
    )
    item = CommandModel.get(cid, consistent_read=True)
    raw = plain(item.results)
    assert sorted(raw["a1"]) == ["site_id", "status", "updated_at"]
    assert sorted(raw["a2"]) == ["error", "error_code", "hops", "site_id", "status", "success", "updated_at"]
    shown = record(fleet, cid)

    empty = {"success": None, "data": None, "error": None, "error_code": None, "data_truncated": False}
    item.results = {agent: {**empty, **entry} for agent, entry in raw.items()}  # the older format
    item.save()
    assert plain(CommandModel.get(cid, consistent_read=True).results)["a1"]["data_truncated"] is False
    older = record(fleet, cid)
    assert older == shown
