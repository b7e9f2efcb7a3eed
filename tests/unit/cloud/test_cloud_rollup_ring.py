"""The ring of each scope's last 8 days of command counters (repositories/rollup.py): the overview reads a week of
history in one item per scope, with exact rates; days roll over by the clock; a caller scoped to one site gets its
sites' rates alone; a tenant's history from before the ring is still counted; and concurrent writers (real moto,
each request atomic as in DynamoDB) never lose or double a count, at a day's first count or across a rollover."""

from __future__ import annotations

import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib import container
from chalicelib.models.rollup import RollupModel
from chalicelib.repositories.rollup import RING, RING_DAYS, RollupRepository
from tests.unit.cloud.cloud_testkit import SETTINGS, AwsCall, Cloud, around_aws_calls, dynamo_traffic, online

DAY = 86400
#: noon (UTC) of the day after the test kit's T0: every test day starts here
NOON = 1_700_049_600.0
ROLLUP_TABLE = SETTINGS.table_name("rollup")
OUTCOMES = ("succeeded", "failed", "timed_out")
COUNTER = {"succeeded": "commands_succeeded", "failed": "commands_failed", "timed_out": "commands_timed_out"}


def day_of(at: float) -> str:
    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%d")


def finish(cloud: Cloud, site_id: str, agent_id: str, outcomes: list[str]) -> None:
    """One command to ``agent_id`` per outcome, each finished with it by the site (the real API and rule)."""
    for outcome in outcomes:
        command = cloud.post("/api/commands", {"agent_id": agent_id, "command": "ping"}).json_body["data"]
        cloud.results(site_id, [{"request_id": command["command_id"], "agent_id": agent_id, "status": outcome,
                                 **({"error": "x"} if outcome != "succeeded" else {})}])  # fmt: skip


def rate(counts: Counter[str]) -> dict[str, Any]:
    finished = sum(counts.values())
    return {
        "finished": finished,
        "succeeded": counts["succeeded"],
        "failed": counts["failed"],
        "timed_out": counts["timed_out"],
        "success_rate": counts["succeeded"] / finished if finished else None,
    }


def shown(commands: dict[str, Any]) -> dict[str, Any]:
    return {k: commands[k] for k in ("finished", "succeeded", "failed", "timed_out", "success_rate")}


def overview(cloud: Cloud, role: str = "admin") -> dict[str, Any]:
    response = cloud.get("/api/overview", role=role)
    assert response.status_code == 200, response.body
    data: dict[str, Any] = response.json_body["data"]
    return data


def week_of_commands(cloud: Cloud, days: int) -> dict[str, list[Counter[str]]]:
    """``days`` days of commands on s1 (a1) and s2 (b1), a different mix each day, the clock at noon of each; the
    clock ends on the last of them. Returns each site's outcomes per day, oldest first."""
    cloud.clock.now = NOON
    history: dict[str, list[Counter[str]]] = {"s1": [], "s2": []}
    for n in range(days):
        if n:
            cloud.clock.advance(DAY)
        cloud.heartbeat("s1", [online("a1")])
        cloud.heartbeat("s2", [online("b1")])
        mix = {"s1": ["succeeded"] * (n + 1) + ["failed"] * (n % 3), "s2": ["succeeded"] + ["timed_out"] * (n % 2)}
        finish(cloud, "s1", "a1", mix["s1"])
        finish(cloud, "s2", "b1", mix["s2"])
        for site_id, outcomes in mix.items():
            history[site_id].append(Counter(outcomes))
    return history


def last(history: dict[str, list[Counter[str]]], sites: tuple[str, ...], days: int) -> Counter[str]:
    total: Counter[str] = Counter()
    for site_id in sites:
        for counts in history[site_id][-days:]:
            total.update(counts)
    return total


def test_a_week_of_commands_reads_one_ring_item_and_the_rates_are_exact(cloud: Cloud) -> None:
    history = week_of_commands(cloud, 10)
    with dynamo_traffic() as seen:
        data = overview(cloud)
    both = ("s1", "s2")
    assert shown(data["commands"]["day"]) == rate(last(history, both, 1))
    assert shown(data["commands"]["week"]) == rate(last(history, both, 7))
    # the API token, the ETag's change marks, the summary's items, and the tenant's ring: one item of the rollups
    assert seen["tables"][ROLLUP_TABLE] == 1
    assert seen["items"] < 10
    # /api/stats over a week reads the ring too; over 30 days the day items: the same counts either way
    assert shown(cloud.get("/api/stats?days=7").json_body["data"]["commands"]) == rate(last(history, both, 7))
    assert shown(cloud.get("/api/stats?days=30").json_body["data"]["commands"]) == rate(last(history, both, 10))
    site = cloud.get("/api/stats/sites/s2?days=2").json_body["data"]["commands"]
    assert shown(site) == rate(last(history, ("s2",), 2))


def test_days_roll_over_by_the_clock_and_a_slot_of_8_days_ago_starts_again(cloud: Cloud) -> None:
    cloud.clock.now = NOON
    cloud.heartbeat("s1", [online("a1")])
    finish(cloud, "s1", "a1", ["succeeded", "failed"])
    cloud.clock.advance(DAY)  # tomorrow, nothing yet
    data = overview(cloud)
    assert data["commands"]["day"]["finished"] == 0 and data["commands"]["day"]["success_rate"] is None
    assert shown(data["commands"]["week"]) == rate(Counter(succeeded=1, failed=1))
    cloud.clock.advance(5 * DAY)  # the first day is the week's first
    assert overview(cloud)["commands"]["week"]["finished"] == 2
    cloud.clock.advance(DAY)  # and now out of it (its slot still holds it)
    assert overview(cloud)["commands"]["week"]["finished"] == 0
    cloud.heartbeat("s1", [online("a1")])
    cloud.clock.advance(DAY)
    finish(cloud, "s1", "a1", ["succeeded"])  # 8 days later: the same slot, started again
    data = overview(cloud)
    assert shown(data["commands"]["day"]) == shown(data["commands"]["week"]) == rate(Counter(succeeded=1))
    ring = RollupRepository().rings(["tenant"])["tenant"]
    assert list(ring.days) == [day_of(cloud.clock.now)]  # the old day is gone from the ring, not added to
    assert RollupRepository().between("tenant", day_of(NOON), day_of(NOON))["commands_failed"] == 1  # kept there


@pytest.mark.parametrize("role", ["operator", "viewer"])
def test_a_caller_of_one_site_gets_its_sites_rates_alone(cloud: Cloud, role: str) -> None:
    history = week_of_commands(cloud, 9)
    cloud.tokens["s1-only"] = container.get().tokens.create(role, "s1 only", site_ids=["s1"]).secret
    with dynamo_traffic() as seen:
        data = overview(cloud, "s1-only")
    assert shown(data["commands"]["day"]) == rate(last(history, ("s1",), 1))
    assert shown(data["commands"]["week"]) == rate(last(history, ("s1",), 7))
    assert data["commands"]["week"]["timed_out"] == 0  # s2's timed-out commands are not its
    assert seen["tables"][ROLLUP_TABLE] == 1  # s1's ring alone
    assert shown(overview(cloud)["commands"]["week"]) == rate(last(history, ("s1", "s2"), 7))


def test_a_new_tenants_ring_holds_its_whole_week_from_its_first_count(cloud: Cloud) -> None:
    cloud.clock.now = NOON
    cloud.heartbeat("s1", [online("a1")])
    finish(cloud, "s1", "a1", ["succeeded", "failed"])
    with dynamo_traffic() as seen:
        week = overview(cloud)["commands"]["week"]
    assert shown(week) == rate(Counter(succeeded=1, failed=1)) and seen["tables"][ROLLUP_TABLE] == 1


@pytest.mark.parametrize("today", [True, False], ids=["history-today", "history-before"])
def test_history_from_before_the_ring_is_counted_until_the_ring_covers_the_week(cloud: Cloud, today: bool) -> None:
    """Migration: a tenant's day items written before this release (no ring) still count; the first count makes the
    ring, and its first day (and those before) are read from the day items until it leaves the window."""
    cloud.clock.now = NOON + 3 * DAY
    history = {3: 2, 1: 1, **({0: 4} if today else {})}  # days back: failed commands, written the old way
    for back, failed in history.items():
        for scope in ("tenant", "site#s1"):
            RollupModel(scope, day_of(cloud.clock.now - back * DAY)).update(
                actions=[RollupModel.commands_failed.add(failed)]
            )
    failed = sum(history.values())
    cloud.heartbeat("s1", [online("a1")])
    assert overview(cloud)["commands"]["week"]["failed"] == failed  # no ring yet: the day items
    finish(cloud, "s1", "a1", ["succeeded"])  # today's first count through the ring
    data = overview(cloud)
    assert shown(data["commands"]["day"]) == rate(Counter(succeeded=1, failed=history.get(0, 0)))
    assert shown(data["commands"]["week"]) == rate(Counter(succeeded=1, failed=failed))
    for _ in range(6):  # the ring's first day stays in the window: read from its day item
        cloud.clock.advance(DAY)
        cloud.heartbeat("s1", [online("a1")])
        finish(cloud, "s1", "a1", ["succeeded"])
    with dynamo_traffic() as seen:
        week = overview(cloud)["commands"]["week"]
    assert shown(week) == rate(Counter(succeeded=7, failed=history.get(0, 0)))
    assert seen["tables"][ROLLUP_TABLE] == 2  # the ring and the day item of its first day
    cloud.clock.advance(DAY)
    with dynamo_traffic() as seen:
        week = overview(cloud)["commands"]["week"]
    assert shown(week) == rate(Counter(succeeded=6)) and seen["tables"][ROLLUP_TABLE] == 1


# ------------------------------------------------------------------ concurrent writers (repositories/rollup.py)


@contextmanager
def atomic_requests() -> Iterator[None]:
    """Each DynamoDB request atomic, as DynamoDB makes it (moto's in-process backend checks a condition and writes
    in separate steps); the requests of concurrent writers still interleave freely."""
    lock = threading.Lock()

    def one_at_a_time(call: AwsCall, client: Any, operation: str, params: Any) -> Any:
        with lock:
            return call(client, operation, params)

    with around_aws_calls(one_at_a_time):
        yield


@contextmanager
def before_first(matches: Callable[[str, Any], bool], meanwhile: Callable[[], None]) -> Iterator[list[int]]:
    """Run ``meanwhile`` (another writer) just before the first request ``matches`` is sent; the list yielded counts
    the requests that matched."""
    seen: list[int] = []

    def interleave(call: AwsCall, client: Any, operation: str, params: Any) -> Any:
        if matches(operation, params):
            seen.append(1)
            if len(seen) == 1:
                meanwhile()
        return call(client, operation, params)

    with around_aws_calls(interleave):
        yield seen


def starts_a_slot(operation: str, params: Any) -> bool:
    """The UpdateItem that starts a day's slot of the ring (the one that sets ``since``)."""
    return (
        operation == "UpdateItem"
        and params["Key"]["day"]["S"] == RING
        and "since" in params.get("ExpressionAttributeNames", {}).values()
    )


def ring_and_days(scope: str, days: list[str]) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    repo = RollupRepository()
    ring = repo.rings([scope])[scope].days
    return ({d: c for d, c in ring.items() if d in days}, {d: repo.between(scope, d, d) for d in days})


def test_two_writers_starting_the_same_day_both_count(cloud: Cloud) -> None:
    repo, today = RollupRepository(), day_of(NOON)
    old = day_of(NOON - RING_DAYS * DAY)  # the slot holds a day 8 days back: both writers find it stale
    repo.add("tenant", old, {"commands_failed": 5}, NOON + DAY)

    def other() -> None:
        repo.add("tenant", today, {"commands_succeeded": 2}, NOON + DAY)

    with before_first(starts_a_slot, other) as started:
        repo.add("tenant", today, {"commands_succeeded": 3, "commands_failed": 1}, NOON + DAY)
    # ours: add (refused: an old day) -> the other writer starts the day -> ours to start (refused) -> add again
    assert len(started) == 2
    ring, days = ring_and_days("tenant", [today, old])
    assert ring == {today: days[today]}
    assert days[today]["commands_succeeded"] == 5 and days[today]["commands_failed"] == 1


def test_a_writer_a_ring_has_passed_counts_in_its_day_alone(cloud: Cloud) -> None:
    repo, today = RollupRepository(), day_of(NOON)
    late = day_of(NOON - RING_DAYS * DAY)  # its slot is today's
    repo.add("tenant", today, {"commands_succeeded": 1}, NOON + DAY)
    repo.add("tenant", late, {"commands_failed": 1}, NOON + DAY)
    ring, days = ring_and_days("tenant", [today, late])
    assert ring == {today: days[today]} and days[late]["commands_failed"] == 1


def test_concurrent_writers_across_a_rollover_lose_no_count(cloud: Cloud) -> None:
    """Writers of yesterday, today and tomorrow (its slot holding a day 8 days back) all at once: each day of the
    ring ends equal to its day item, which holds every count."""
    repo = RollupRepository()
    days = [day_of(NOON + d * DAY) for d in (-1, 0, 1)]
    repo.add("tenant", day_of(NOON + DAY - RING_DAYS * DAY), {"commands_expired": 9}, NOON + 2 * DAY)
    writers, adds = 12, 15
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def write(n: int) -> None:
        barrier.wait()
        try:
            for i in range(adds):
                repo.add(
                    "tenant", days[(n + i) % 3], {"commands_succeeded": 1, "commands_failed": n % 2}, NOON + 2 * DAY
                )
        except BaseException as exc:  # reported below
            errors.append(exc)

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        with atomic_requests():
            threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    finally:
        sys.setswitchinterval(switch)
    assert errors == []
    ring, stored = ring_and_days("tenant", days)
    assert ring == stored
    assert sum(c["commands_succeeded"] for c in ring.values()) == writers * adds
    assert sum(c["commands_failed"] for c in ring.values()) == (writers // 2) * adds
    assert all(c["commands_expired"] == 0 for c in ring.values())
