"""Cloud cost of one tenant: a simulated school day of 1,000 agents behind 25 sites, beside the naive design.

Runs the real cloud code (rule handlers, services, PynamoDB) on in-process moto with a simulated clock (no
sleeping) and counts what AWS would bill:

* DynamoDB write units — every PutItem / UpdateItem / DeleteItem / BatchWriteItem item / TransactWriteItems item
  (transactions cost 2x), 1 unit per started KB of the item, plus one more write per global secondary index the
  item is in (GSIs are billed like tables) — for an index that projects only some attributes (keys only, or
  INCLUDE), only when the write puts the item in it, takes it out or changes a key or projected attribute (the item
  before the write is read back unmetered): a write that changes none writes the table alone. Read units likewise
  from GetItem / Query responses (4 KB each, halved for eventually consistent reads); BatchGetItem as that many
  GetItems (each item rounded up to 4 KB on its own).
* IoT Core messages (metered per 5 KB) in both directions, rule triggers, and Lambda invocations (one per
  rule-delivered message, per API request and per sweeper run). The LMS's messages go with Basic Ingest when the
  real ``shared.topics.site_up`` says so (``$aws/rules/...``: no messaging charge, the rule still billed); the
  "previous" column is the same measured traffic with them billed as broker messages.
* API Gateway requests at the REST API's price (Chalice deploys a REST API), and CloudFront requests for the
  dashboard's polls (it reaches ``/api/*`` through the tenant's distribution); the Secrets Manager secret that
  signs the overview's shared links ($0.40 a month, and its reads).

A day is not simulated second by second: it is three sampled periods, extrapolated (the output says so):
the morning boot (every agent comes online within the sample), a steady period (full site heartbeats every
``site_heartbeat_s`` as the LMS ships it, 2% of agents changing state per hour, a few commands and ClassTop syncs),
and the evening shutdown; the steady sample stands for the rest of the day. Metric rollups have no cloud handler
yet, so they are modelled (one IoT message and one item write per site per 5 minutes) and shown on their own line.

The naive design (every agent writes its item every 60 s through IoT Core and a Lambda) is measured with the same
counters over one sampled minute and extrapolated to the day.

The dashboard: ``--dashboard-admins`` (20) admins keep the overview open, polling ``GET /api/overview`` every
``--dashboard-interval`` (10) s with ``If-None-Match`` during ``--dashboard-hours`` (10) of the day, through the real
route (chalice's test client) while the steady sample runs; beside it, the same polls without ``If-None-Match``
(two admins measured, scaled to all): what the ETags save. Each poll is one API request and one Lambda invocation.
That was the previous design; this design's admins poll the overview's shared link instead
(``SharedLinkDashboard``: CloudFront's cache in front, ``--cdn-edges`` edge caches assumed), measured in the same
steady sample; both totals are printed.

Usage: ``python bench/cloud_cost.py [--sites 25] [--agents-per-site 40] [--steady-minutes 20] [--dashboard-admins 20]``
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "cloud")]
os.environ.update(AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                  AWS_SESSION_TOKEN="bench")

import boto3  # noqa: E402
import botocore.client  # noqa: E402
import yaml  # noqa: E402
from moto import mock_aws  # noqa: E402

from bench._results import Figure, write_results  # noqa: E402
from chalicelib import container, models  # noqa: E402
from chalicelib.adapters.iot import RecordingPublisher  # noqa: E402
from chalicelib.adapters.signing_key import KEY_CACHE_S  # noqa: E402
from chalicelib.config import Settings  # noqa: E402
from chalicelib.domain.agent import Agent  # noqa: E402
from chalicelib.domain.alert import ChannelKind  # noqa: E402
from chalicelib.domain.feed_link import MAX_AGE_S  # noqa: E402
from chalicelib.domain.token import Principal, Role  # noqa: E402
from chalicelib.handlers import RULE_HANDLERS  # noqa: E402
from chalicelib.handlers.sweeper import expire_commands  # noqa: E402
from chalicelib.repositories import change_mark  # noqa: E402
from chalicelib.services.commands import CommandRequest  # noqa: E402
from chalicelib.services.overview_feed import BUCKET_S  # noqa: E402
from edge.lms.config.lms_config import LmsConfig  # noqa: E402
from infra.aws.rules import event_for, rule_for_handler  # noqa: E402
from shared.messages import MAX_ROLLUPS, ROLLUP_HOUR_S, ROLLUP_PERIOD_S, Presence  # noqa: E402
from shared.names import Namespace  # noqa: E402
from shared.topics import BASIC_INGEST_PREFIX, site_up  # noqa: E402

# ---------------------------------------------------------------- AWS list prices (us-east-1, on demand)
PRICE_DDB_WRITE_UNIT = 0.625 / 1e6
PRICE_DDB_READ_UNIT = 0.125 / 1e6
PRICE_IOT_MESSAGE = 1.00 / 1e6  # per 5 KB
PRICE_IOT_RULE = 0.15 / 1e6 + 0.15 / 1e6  # rule triggered + one action
PRICE_LAMBDA_REQUEST = 0.20 / 1e6
PRICE_LAMBDA_GB_S = 0.0000166667 * 0.8  # arm64
LAMBDA_MEMORY_GB = 0.25
LAMBDA_AVG_S = 0.1
#: API Gateway REST API (what Chalice deploys: AWS::Serverless::Api), first 333 M requests a month; an HTTP API
#: would be $1.00
PRICE_REST_API_REQUEST = 3.50 / 1e6
#: CloudFront HTTPS requests (the dashboard reaches /api/* through the tenant's distribution), North America
PRICE_CLOUDFRONT_REQUEST = 0.0100 / 1e4
PRICE_SNS_EMAIL = 0.50 / 1e6 + 2.00 / 1e5  # a publish + its e-mail delivery (SMS: ~$0.0065 per US message)
#: Secrets Manager: a secret a month (the overview links' signing key), and API calls
PRICE_SECRET_MONTH = 0.40
#: what a tenant stage's resources cost each month whatever its traffic (us-east-1 list prices, no free tier),
#: counted from the templates as deployed with the parameters' defaults (Secrets Manager is metered above, with
#: its reads); ``CustomMetric``: a metric the stack's metric filters publish (the filters themselves are free)
PRICE_FIXED_MONTH = {"AWS::CloudWatch::Alarm": 0.10, "AWS::CloudWatch::Dashboard": 3.00, "AWS::KMS::Key": 1.00,
                     "CustomMetric": 0.30}
TEMPLATES = (ROOT / "template.yaml", ROOT / "infra" / "aws" / "data-plane.yaml")
PRICE_SECRET_CALL = 0.05 / 1e4

#: each function's configured memory (what Lambda bills GB-seconds on)
_CHALICE_FUNCTIONS = json.loads((ROOT / "cloud" / ".chalice" / "config.json").read_text())["stages"]["dev"][
    "lambda_functions"]


def function_memory_gb(function: str) -> float:
    return float(_CHALICE_FUNCTIONS.get(function, {}).get("lambda_memory_size", LAMBDA_MEMORY_GB * 1024)) / 1024


def use_previous_intake() -> None:
    """The fleet's intake as it was before (``--previous-intake``): every heartbeat reads its site's waiting orders
    and every full one the site's agents (nothing on the site's item spares them)."""
    from chalicelib.repositories.site import SiteRepository
    from chalicelib.services import agents

    class PreviousMarks(agents.HeartbeatMarks):
        @classmethod
        def of(cls, site: Any) -> PreviousMarks:
            return cls(None, None)

        def spares_agents(self, digest: str | None) -> bool:
            return False

        def know_agents(self, digest: str | None) -> None:
            pass

        def no_orders_since(self, at: float) -> bool:
            return False

        def saw_orders(self, waiting: bool, at: float) -> None:
            self.orders_read = True

    agents.HeartbeatMarks = PreviousMarks  # type: ignore[misc]
    SiteRepository.forget = lambda self, site_id, **_: None  # type: ignore[method-assign]


#: the LMS's full site heartbeat period as it ships (``site_heartbeat_s``; ``--site-heartbeat-s``)
HEARTBEAT_S = float(LmsConfig.model_fields["site_heartbeat_s"].default)
#: alerts assumed per agent per day (each one fires and resolves: two changes through the site's outbox)
ALERTS_PER_AGENT_DAY = 0.5
#: agents whose alert fires and resolves in the measured intake sample
ALERT_SAMPLE = 50
DAYS_PER_MONTH = 30

_WRITES = {"PutItem", "UpdateItem", "DeleteItem"}
#: the item before a write was not read (the table's indexes project every attribute)
_UNKNOWN = object()


@dataclass(frozen=True)
class _Index:
    """A global secondary index as the meter bills it: ``projected`` the attributes it holds (``None``: all)."""

    hash_key: str
    keys: list[str]
    projected: set[str] | None

    def writes(self, before: dict[str, Any] | None, after: dict[str, Any] | None) -> int:
        """Write units a change of an item from ``before`` to ``after`` costs this index (``None``: no item)."""
        held_before = before is not None and all(k in before for k in self.keys)
        held_after = after is not None and all(k in after for k in self.keys)
        if not held_before and not held_after:
            return 0
        assert self.projected is not None
        entry_after = {k: v for k, v in (after or {}).items() if k in self.projected}
        units = max(1, math.ceil(item_size(entry_after) / 1024))
        if not held_before or not held_after:
            return units if held_after else 1
        assert before is not None and after is not None
        if any(before[k] != after[k] for k in self.keys):
            return 1 + units  # out with the old key, in with the new
        entry_before = {k: v for k, v in before.items() if k in self.projected}
        return units if entry_before != entry_after else 0
_READS = {"GetItem", "Query", "BatchGetItem", "Scan"}


@dataclass
class Meter:
    write_units: float = 0.0
    read_units: float = 0.0
    ops: Counter[str] = field(default_factory=Counter)
    iot_messages: int = 0
    #: messages sent with Basic Ingest ($aws/rules/...): no messaging charge (the rule's trigger still is)
    ingest_messages: int = 0
    rule_triggers: int = 0
    lambda_invocations: int = 0
    api_requests: int = 0
    notifications: int = 0  # SNS publishes (one e-mail channel)
    cdn_requests: int = 0  # through CloudFront (the dashboard's)
    read_items: int = 0  # DynamoDB items returned (not billed as such: the overview's "items read")
    secrets_manager: float = 0.0  # $ of Secrets Manager (the overview links' key: the secret and its reads)
    #: items written and their DynamoDB size (the per-function breakdown's "item size")
    write_items: int = 0
    write_bytes: int = 0
    #: GB-seconds of the invocations whose function is known (its configured memory); the others at LAMBDA_MEMORY_GB
    lambda_gb_s: float = 0.0
    lambda_sized: int = 0
    #: write units of the overview summary's items (services/site_summaries.py), part of ``write_units``
    summary_write_units: float = 0.0
    #: the same meters per Lambda function (the fleet's breakdown); not part of the sums above
    parts: dict[str, Meter] = field(default_factory=dict)

    def invoke(self, function: str, count: int = 1) -> None:
        """``count`` invocations of ``function`` (its memory from cloud/.chalice/config.json), here and in its part."""
        for meter in (self, self.part(function)):
            meter.lambda_invocations += count
            meter.lambda_gb_s += count * function_memory_gb(function) * LAMBDA_AVG_S
            meter.lambda_sized += count

    def part(self, function: str) -> Meter:
        return self.parts.setdefault(function, Meter())

    def cost(self) -> dict[str, float]:
        return {
            "dynamodb_writes": self.write_units * PRICE_DDB_WRITE_UNIT,
            "dynamodb_reads": self.read_units * PRICE_DDB_READ_UNIT,
            "iot_messages": self.iot_messages * PRICE_IOT_MESSAGE,
            "iot_rules": self.rule_triggers * PRICE_IOT_RULE,
            "lambda": self.lambda_invocations * PRICE_LAMBDA_REQUEST
            + (self.lambda_gb_s + (self.lambda_invocations - self.lambda_sized) * LAMBDA_MEMORY_GB * LAMBDA_AVG_S)
            * PRICE_LAMBDA_GB_S,
            "api_gateway": self.api_requests * PRICE_REST_API_REQUEST,
            "cloudfront": self.cdn_requests * PRICE_CLOUDFRONT_REQUEST,
            "sns_email": self.notifications * PRICE_SNS_EMAIL,
            "secrets_manager": self.secrets_manager,
        }

    def without_basic_ingest(self) -> Meter:
        """The same traffic with every Basic Ingest message sent through the broker (the previous design)."""
        other = self.scaled(1.0)
        other.iot_messages += other.ingest_messages
        other.ingest_messages = 0
        return other

    def scaled(self, factor: float) -> Meter:
        return Meter(self.write_units * factor, self.read_units * factor,
                     Counter({k: round(v * factor) for k, v in self.ops.items()}),
                     round(self.iot_messages * factor), round(self.ingest_messages * factor),
                     round(self.rule_triggers * factor), round(self.lambda_invocations * factor),
                     round(self.api_requests * factor), round(self.notifications * factor),
                     round(self.cdn_requests * factor), round(self.read_items * factor),
                     self.secrets_manager * factor,
                     round(self.write_items * factor), round(self.write_bytes * factor), self.lambda_gb_s * factor,
                     round(self.lambda_sized * factor), self.summary_write_units * factor,
                     {k: v.scaled(factor) for k, v in self.parts.items()})

    def add(self, other: Meter) -> None:
        self.write_units += other.write_units
        self.read_units += other.read_units
        self.ops.update(other.ops)
        self.iot_messages += other.iot_messages
        self.ingest_messages += other.ingest_messages
        self.rule_triggers += other.rule_triggers
        self.lambda_invocations += other.lambda_invocations
        self.api_requests += other.api_requests
        self.notifications += other.notifications
        self.cdn_requests += other.cdn_requests
        self.read_items += other.read_items
        self.secrets_manager += other.secrets_manager
        self.write_items += other.write_items
        self.write_bytes += other.write_bytes
        self.lambda_gb_s += other.lambda_gb_s
        self.lambda_sized += other.lambda_sized
        self.summary_write_units += other.summary_write_units
        for name, part in other.parts.items():
            self.part(name).add(part)


def item_size(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB bills it: attribute names plus values (UTF-8 strings, numbers about one byte per
    two digits plus one, 3 bytes of overhead per list or map and 1 per element)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    ((kind, v),) = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "N":
        return (len(v.lstrip("-").replace(".", "").strip("0")) + 1) // 2 + 1
    if kind in ("B", "BS"):
        return len(v) if kind == "B" else sum(len(b) for b in v)
    if kind in ("SS", "NS"):
        return sum(_value_size({kind[0]: e}) for e in v)
    if kind == "L":
        return 3 + sum(1 + _value_size(e) for e in v)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + _value_size(e) for k, e in v.items())
    return 1  # BOOL, NULL


class DynamoCounter:
    """Wraps botocore's ``_make_api_call`` and meters DynamoDB capacity the way AWS bills it (see module doc)."""

    def __init__(self) -> None:
        self.meter = Meter()
        self._gsi: dict[str, list[_Index]] = {}
        self._table_keys: dict[str, list[str]] = {}
        self._real = botocore.client.BaseClient._make_api_call

    def install(self) -> None:
        counter = self

        def call(client: Any, operation: str, params: Any) -> Any:
            before = _UNKNOWN
            if (client.meta.service_model.service_name == "dynamodb" and operation in _WRITES
                    and counter.partial_indexes(params["TableName"])):  # the item before: unmetered
                key = params.get("Key") or counter.key_of(params["TableName"], params["Item"])
                before = counter._real(client, "GetItem", {"TableName": params["TableName"], "Key": key,
                                                           "ConsistentRead": True}).get("Item")
            response = counter._real(client, operation, params)
            if client.meta.service_model.service_name == "dynamodb":
                if operation == "UpdateItem":  # billed on the item's size, not its key's: read it back, unmetered
                    stored = counter._real(client, "GetItem", {"TableName": params["TableName"],
                                                               "Key": params["Key"], "ConsistentRead": True})
                    params = {**params, "Item": stored.get("Item") or params["Key"]}
                counter.observe(operation, params, response, before)
            elif client.meta.service_model.service_name == "sns" and operation == "Publish":
                counter.meter.notifications += 1
            return response

        botocore.client.BaseClient._make_api_call = call  # type: ignore[method-assign]

    def uninstall(self) -> None:
        botocore.client.BaseClient._make_api_call = self._real  # type: ignore[method-assign]

    def learn_indexes(self) -> None:
        for model in models.MODELS:
            indexes = []
            table_keys = [str(model._hash_keyname), *([model._range_keyname] if model._range_keyname else [])]
            for index in model._indexes.values():
                keys = [a.attr_name for a in sorted(index.Meta.attributes.values(), key=lambda a: not a.is_hash_key)]
                projection = index.Meta.projection
                projected = (None if projection.projection_type == "ALL"
                             else {*keys, *table_keys, *(projection.non_key_attributes or [])})
                indexes.append(_Index(keys[0], keys, projected))
            self._gsi[model.Meta.table_name] = indexes
            self._table_keys[model.Meta.table_name] = table_keys

    def partial_indexes(self, table: str) -> bool:
        """Whether an index of ``table`` projects only some attributes (its writes depend on the item before)."""
        return any(index.projected is not None for index in self._gsi.get(table, []))

    def key_of(self, table: str, item: dict[str, Any]) -> dict[str, Any]:
        return {name: item[name] for name in self._table_keys[table]}

    def _item_units(self, table: str, item: dict[str, Any] | None, factor: float = 1.0,
                    before: Any = _UNKNOWN, *, deleted: bool = False) -> float:
        size = item_size(item or {})
        self.meter.write_items += 1
        self.meter.write_bytes += size
        per_copy = max(1, math.ceil(size / 1024))
        units = per_copy
        for index in self._gsi.get(table, []):
            if index.projected is None or before is _UNKNOWN:
                # it projects all attributes: a write of an item in it is a write of the index too
                units += per_copy if item and index.hash_key in item else 0
            else:
                units += index.writes(before, None if deleted else item)
        return units * factor

    @contextmanager
    def within(self, function: str) -> Iterator[None]:
        """Meter what runs inside also in ``self.meter.parts[function]``."""
        outer = self.meter
        before = Meter(outer.write_units, outer.read_units, Counter(), read_items=outer.read_items,
                       write_items=outer.write_items, write_bytes=outer.write_bytes,
                       summary_write_units=outer.summary_write_units)
        try:
            yield
        finally:
            part = outer.part(function)
            part.write_units += outer.write_units - before.write_units
            part.read_units += outer.read_units - before.read_units
            part.read_items += outer.read_items - before.read_items
            part.write_items += outer.write_items - before.write_items
            part.write_bytes += outer.write_bytes - before.write_bytes
            part.summary_write_units += outer.summary_write_units - before.summary_write_units

    def observe(self, operation: str, params: dict[str, Any], response: dict[str, Any],
                before: Any = _UNKNOWN) -> None:
        meter = self.meter
        meter.ops[operation] += 1
        if operation in ("PutItem", "UpdateItem"):
            units = self._item_units(params["TableName"], params.get("Item"), before=before)
            meter.write_units += units
            if params.get("Key", params.get("Item", {})).get("area", {}).get("S", "").startswith("site_summary#"):
                meter.summary_write_units += units
        elif operation == "DeleteItem":
            if before is _UNKNOWN:
                meter.write_units += self._item_units(params["TableName"], params.get("Key"))
            else:  # billed on the deleted item's size, and each index that held it
                meter.write_units += self._item_units(params["TableName"], before or params["Key"], before=before,
                                                      deleted=True)
        elif operation == "BatchWriteItem":
            for table, requests in params.get("RequestItems", {}).items():
                for request in requests:
                    item = request.get("PutRequest", {}).get("Item") or request.get("DeleteRequest", {}).get("Key")
                    meter.write_units += self._item_units(table, item)
        elif operation == "TransactWriteItems":
            for entry in params.get("TransactItems", []):
                for kind in ("Put", "Update", "Delete", "ConditionCheck"):
                    if kind in entry:
                        body = entry[kind]
                        meter.write_units += self._item_units(body["TableName"], body.get("Item") or body.get("Key"),
                                                              2.0)
        elif operation in _READS:
            consistent = params.get("ConsistentRead", False)
            items = response.get("Items") or ([response["Item"]] if response.get("Item") else [])
            if operation == "BatchGetItem":  # each item a GetItem of its own: rounded up to 4 KB by itself
                rows = [(table, item) for table, found in response.get("Responses", {}).items() for item in found]
                meter.read_items += len(rows)
                meter.read_units += max(1, sum(
                    math.ceil(item_size(item) / 4096)
                    * (1.0 if params["RequestItems"].get(table, {}).get("ConsistentRead") else 0.5)
                    for table, item in rows)) if rows else 0.5
                return
            size = sum(item_size(item) for item in items)
            meter.read_items += len(items)
            meter.read_units += max(1, math.ceil(size / 4096)) * (1.0 if consistent else 0.5)


class CountingPublisher(RecordingPublisher):
    def __init__(self, meter_of: Any) -> None:
        super().__init__()
        self._meter_of = meter_of

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        self._meter_of().iot_messages += max(1, math.ceil(len(payload) / 5120))


class Dashboard:
    """Admins with the overview open: conditional polls (``meter``), and unconditional ones (``baseline``)."""

    def __init__(self, counter: DynamoCounter, admins: int, interval_s: float, baseline_admins: int) -> None:
        from app import app
        from chalice.test import Client

        self.counter = counter
        self.client = Client(app, stage_name="dev", project_dir=str(ROOT / "cloud"))
        self.admins = admins
        self.interval_s = interval_s
        self.baseline_admins = min(baseline_admins, admins)
        self.meter = Meter()
        self.baseline = Meter()
        self.tags: dict[int, str] = {}
        self.not_modified = 0
        self.polls = 0
        self.token = ""
        #: the same admins through the overview's shared link (this design), polled alongside
        self.shared: SharedLinkDashboard | None = None

    def poll_for(self, seconds: float) -> None:
        if not self.token:
            self.token = container.get().tokens.create("admin", "dashboard bench").secret
        for _ in range(max(1, round(seconds / self.interval_s))):
            for admin in range(self.admins):
                self._poll(admin, conditional=True)
            for admin in range(self.baseline_admins):
                self._poll(admin, conditional=False)
        if self.shared is not None:
            self.shared.poll_for(seconds)

    def _poll(self, admin: int, *, conditional: bool) -> None:
        saved, self.counter.meter = self.counter.meter, self.meter if conditional else self.baseline
        try:
            self.counter.meter.api_requests += 1
            self.counter.meter.cdn_requests += 1
            self.counter.meter.lambda_invocations += 1
            headers = {"Authorization": f"Bearer {self.token}"}
            if conditional and admin in self.tags:
                headers["If-None-Match"] = self.tags[admin]
            response = self.client.http.get("/api/overview", headers=headers)
            if response.status_code not in (200, 304):
                raise RuntimeError(f"overview poll: {response.status_code} {response.body[:200]!r}")
            if conditional:
                self.polls += 1
                self.not_modified += response.status_code == 304
                self.tags[admin] = response.headers["ETag"]
        finally:
            self.counter.meter = saved


class SharedLinkDashboard:
    """The same admins through the overview's shared link (``services/overview_feed.py``). Each admin asks
    ``GET /api/overview/feed`` when its link's window ends (through CloudFront's uncached ``/api/*``: a CloudFront,
    an API Gateway and a Lambda request) and polls the link every interval, with ``If-None-Match``. CloudFront is
    modelled as ``edges`` edge caches with the admins spread over them: each keeps the origin's answer for the
    ``max-age`` it sends and revalidates it (``If-None-Match``: a 304 costs the origin one read of the marks) at
    the first poll after it went stale. Every poll is a CloudFront request; only a stale edge's reaches API Gateway
    and Lambda. Polls of one step are ``interval`` seconds apart on the edges' clock (the origin's clock moves in
    heartbeat steps), so an edge revalidates once per ``max-age``: regional edge caches, which would merge the
    edges' revalidations, are not counted on (an upper bound)."""

    def __init__(self, counter: DynamoCounter, admins: int, interval_s: float, edges: int) -> None:
        from app import app
        from chalice.test import Client

        self.counter = counter
        self.client = Client(app, stage_name="dev", project_dir=str(ROOT / "cloud"))
        self.admins, self.interval_s, self.edges = admins, interval_s, max(1, edges)
        self.meter = Meter()  # the polls of the links
        #: the feed requests: metered apart and scaled per request (each admin asks once when the page opens and
        #: once per window, which a 10-minute sample cannot scale by time)
        self.feed_meter = Meter()
        self.token = ""
        self.links: dict[int, tuple[str, float]] = {}  # admin -> (its link, when to ask for the next)
        self.copies: dict[tuple[int, str], tuple[str, float]] = {}  # (edge, link) -> (ETag, fresh until)
        self.polls = self.origin_requests = self.origin_not_modified = self.feed_requests = 0

    def poll_for(self, seconds: float) -> None:
        services = container.get()
        if not self.token:
            self.token = services.tokens.create("admin", "shared link bench").secret
        now = services.clock()
        for step in range(max(1, round(seconds / self.interval_s))):
            for admin in range(self.admins):
                self._poll(admin, now + step * self.interval_s, now)

    def _get(self, path: str, headers: dict[str, str], meter: Meter) -> Any:
        saved, self.counter.meter = self.counter.meter, meter
        try:
            response = self.client.http.get(path, headers=headers)
        finally:
            self.counter.meter = saved
        if response.status_code not in (200, 304):
            raise RuntimeError(f"shared link poll {path}: {response.status_code} {response.body[:200]!r}")
        return response

    def _poll(self, admin: int, at: float, origin_now: float) -> None:
        """A poll at ``at`` on the edges' clock; the origin's clock (the links' windows) is ``origin_now``."""
        self.polls += 1
        self.meter.cdn_requests += 1
        link, refresh_after = self.links.get(admin, ("", 0.0))
        if origin_now >= refresh_after:
            self.feed_requests += 1
            self.feed_meter.cdn_requests += 1
            self.feed_meter.api_requests += 1
            self.feed_meter.lambda_invocations += 1
            auth = {"Authorization": f"Bearer {self.token}"}
            data = self._get("/api/overview/feed", auth, self.feed_meter).json_body["data"]
            link, refresh_after = data["url"], float(data["refresh_after"])
            self.links[admin] = (link, refresh_after)
        edge = (admin % self.edges, link)
        tag, fresh_until = self.copies.get(edge, ("", 0.0))
        if at < fresh_until:
            return  # the edge answers (its copy, or a 304 to the admin's If-None-Match)
        self.origin_requests += 1
        self.meter.api_requests += 1
        self.meter.lambda_invocations += 1
        response = self._get(link, {"If-None-Match": tag} if tag else {}, self.meter)
        self.origin_not_modified += response.status_code == 304
        max_age = int(response.headers["Cache-Control"].split("max-age=")[1].split(",")[0])
        self.copies[edge] = (response.headers["ETag"], at + max_age)


#: the dashboard's main routes, as its pages call them
DASHBOARD_ROUTES = ("/api/overview", "/api/lms?limit=100", "/api/agents?limit=100", "/api/alerts", "/api/stats")


def route_costs(dashboard: Dashboard) -> list[tuple[str, Meter]]:
    """DynamoDB units of one request of each of the dashboard's main routes (and of an unchanged overview's
    conditional poll), measured on the tenant as the steady sample left it."""
    out: list[tuple[str, Meter]] = []
    headers = {"Authorization": f"Bearer {dashboard.token}"}
    for path, conditional in ((DASHBOARD_ROUTES[0], True), *((p, False) for p in DASHBOARD_ROUTES)):
        saved, dashboard.counter.meter = dashboard.counter.meter, Meter()
        try:
            first = dashboard.client.http.get(path, headers=headers)
            if conditional:
                dashboard.counter.meter = Meter()
                again = dashboard.client.http.get(path, headers={**headers, "If-None-Match": first.headers["ETag"]})
                assert again.status_code == 304, again.status_code
            elif first.status_code != 200:
                raise RuntimeError(f"{path}: {first.status_code} {first.body[:200]!r}")
            out.append((f"{path} (304)" if conditional else path, dashboard.counter.meter))
        finally:
            dashboard.counter.meter = saved
    return out


def overview_at_scale(dashboard: Dashboard, agents: int, per_site: int, now: float) -> Meter:
    """One changed overview (and nothing else) with sites added up to ``agents`` agents of ``per_site`` each, and a
    week of command history (every site's commands of each of the 6 days before today, as the ``command_results``
    rule counts them: the tenant's and each site's counters; with today's, the overview's whole week): the read side
    of issue 18's "an overview of 10,000 agents reads under 10 items", whatever the tenant's history. Run last: it
    adds sites and counts."""
    from chalicelib.domain.site import Site
    from chalicelib.repositories.rollup import RollupRepository
    from chalicelib.repositories.site import SiteRepository
    from chalicelib.services.stats import ROLLUP_RETENTION_S, site_scope, tenant_scope

    repo = SiteRepository("bench")
    site_ids = [f"site-{n:02d}" for n in range(agents // per_site)]
    for site_id in site_ids:
        if repo.get(site_id) is None:
            repo.save(Site(site_id, now, "1.0.0", agent_count=per_site, online_count=per_site // 2))
    saved, dashboard.counter.meter = dashboard.counter.meter, Meter()
    container.get().site_summaries.reconcile()  # the minute's pass: the sites added here, unmetered
    rollups, history = RollupRepository(), 0  # the 6 days before today, unmetered: 2 commands an agent a day
    for back in range(6, 0, -1):
        day = time.strftime("%Y-%m-%d", time.gmtime(now - back * 86400))
        site_counts = {"commands_succeeded": 2 * per_site - back, "commands_failed": back}
        for site_id in site_ids:
            rollups.add(site_scope(site_id), day, site_counts, now + ROLLUP_RETENTION_S)
        rollups.add(tenant_scope(), day, {k: n * len(site_ids) for k, n in site_counts.items()},
                    now + ROLLUP_RETENTION_S)
        history += 2 * per_site * len(site_ids)
    dashboard.counter.meter = Meter()
    try:
        answer = dashboard.client.http.get("/api/overview", headers={"Authorization": f"Bearer {dashboard.token}"})
        data = json.loads(answer.body)["data"] if answer.status_code == 200 else {}
        if not data or data["totals"]["agents"] < agents or data["commands"]["week"]["finished"] < history:
            raise RuntimeError(f"overview at scale: {answer.status_code} {answer.body[:200]!r}")
        return dashboard.counter.meter
    finally:
        dashboard.counter.meter = saved


class Tenant:
    """The simulated tenant: sites with their agents' presence, and the clock."""

    def __init__(self, counter: DynamoCounter, sites: int, per_site: int) -> None:
        self.counter = counter
        self.heartbeat_s: float = HEARTBEAT_S
        self.dashboard: Dashboard | None = None
        self.now = 1_750_000_000.0
        self.sites = {f"site-{s:02d}": {f"s{s:02d}-pc{a:03d}": Presence.OFFLINE for a in range(per_site)}
                      for s in range(sites)}
        self.admin = Principal("bench", Role.ADMIN)
        self.client_rows = [{"id": i, "name": f"course {i}", "teacher": "T", "color": "#6750A4", "note": None}
                            for i in range(12)]

    def clock(self) -> float:
        return self.now

    @property
    def meter(self) -> Meter:
        return self.counter.meter

    def up_message(self, handler: str, event: dict[str, Any]) -> dict[str, Any]:
        """``event``: the message plus the ``site_id`` of the topic it is published on."""
        message = {k: v for k, v in event.items() if k != "site_id"}
        payload = json.dumps(message).encode()
        rule = rule_for_handler(handler)
        topic = site_up(Namespace("bench", "bench"), event["site_id"], rule.channel)  # what the LMS publishes on
        metered = max(1, math.ceil(len(payload) / 5120))
        if topic.startswith(BASIC_INGEST_PREFIX):
            self.meter.ingest_messages += metered
        else:
            self.meter.iot_messages += metered
        self.meter.rule_triggers += 1
        part = self.meter.part(handler)
        part.rule_triggers += 1
        part.ingest_messages += metered if topic.startswith(BASIC_INGEST_PREFIX) else 0
        self.meter.invoke(handler)
        with self.counter.within(handler):
            return RULE_HANDLERS[handler](event_for(rule, topic, payload), None)

    def heartbeat(self, site_id: str) -> None:
        agents = [{"agent_id": a, "status": p.value, "version": "1.0.0", "hostname": a}
                  for a, p in self.sites[site_id].items()]
        self.up_message("site_heartbeat", {"type": "site_heartbeat", "v": 1, "timestamp": self.now,
                                           "lms_version": "1.0.0", "full": True, "agents": agents,
                                           "site_id": site_id})

    def api(self) -> None:
        self.meter.api_requests += 1
        self.meter.part("api_handler").api_requests += 1
        self.meter.invoke("api_handler")

    def command(self, site_id: str) -> None:
        self.api()
        services = container.get()
        targets = tuple(a for a, p in self.sites[site_id].items() if p is Presence.ONLINE)[:40]
        if not targets:
            return
        with self.counter.within("api_handler"):
            record = services.commands.create(CommandRequest("ping", {}, targets), self.admin)
        # the LMS batches per-agent progress into one message each, every result with the hops passed so far
        # (issue 14). Conservative: an answer within the LMS's 1 s hold leaves as one message, not two.
        hops = {"received": self.now + 0.05, "delivered": self.now + 0.06}
        done = {"started": self.now + 0.07, "finished": self.now + 0.08}
        for status, more in (("delivered", {}), ("succeeded", done)):
            results = [{"request_id": record.command_id, "agent_id": a, "status": status, "timestamp": self.now,
                        "hops": {**hops, **more}} for a in targets]
            self.up_message("command_results", {"type": "command_results", "v": 1, "results": results,
                                                "site_id": site_id})

    def sync(self, client: int, changed: bool) -> None:
        self.api()
        rows = self.client_rows + ([{"id": 999, "name": f"v{self.now}", "teacher": "", "color": "", "note": None}]
                                   if changed else [])
        with self.counter.within("api_handler"):
            container.get().classtop_clients.sync(f"client-{client:03d}", rows, [],
                                                  f"10.0.{client // 256}.{client % 256}")

    def sweep(self) -> None:
        self.meter.invoke("expire_commands")
        with self.counter.within("expire_commands"):
            expire_commands(None)

    def rollup_hour(self) -> None:
        """Every agent's closed hour of 5-minute metric rollups, as the LMS sends them (``MetricRollupSync``: whole
        hours, at most ``MAX_ROLLUPS`` buckets a message, values rounded to 2 decimals)."""
        hour = int(self.now) // ROLLUP_HOUR_S * ROLLUP_HOUR_S - ROLLUP_HOUR_S
        for site_id, agents in self.sites.items():
            rollups = [{"agent_id": a, "start": hour + i * ROLLUP_PERIOD_S, "period_s": ROLLUP_PERIOD_S,
                        "samples": 20, "cpu_min": 3.17, "cpu_avg": 21.43 + n % 7, "cpu_max": 87.5,
                        "mem_min": 41.08, "mem_avg": 47.66, "mem_max": 58.91, "disk_min": 61.27,
                        "disk_avg": 61.34, "disk_max": 61.42, "net_rx_min": 1210, "net_rx_avg": 35872 + n,
                        "net_rx_max": 912044, "net_tx_min": 804, "net_tx_avg": 12391, "net_tx_max": 301277}
                       for n, a in enumerate(agents) for i in range(ROLLUP_HOUR_S // ROLLUP_PERIOD_S)]
            for first in range(0, len(rollups), MAX_ROLLUPS):
                self.up_message("site_metrics", {"type": "metric_rollups", "v": 1, "site_id": site_id,
                                                 "rollups": rollups[first:first + MAX_ROLLUPS]})

    def run(self, minutes: float, *, boot: float = 0.0, shutdown: float = 0.0, churn_per_hour: float = 0.0,
            commands: int = 0, clients: int = 0, changed_syncs: int = 0) -> None:
        """Advance ``minutes`` of simulated time in heartbeat steps. ``boot`` / ``shutdown``: the share of agents
        that come online / go offline, spread evenly; ``churn_per_hour``: share of agents flipping per hour."""
        steps = int(minutes * 60 / self.heartbeat_s)
        all_agents = [(s, a) for s, agents in self.sites.items() for a in agents]
        to_boot = all_agents[: int(len(all_agents) * boot)]
        to_stop = all_agents[: int(len(all_agents) * shutdown)]
        flips = int(len(all_agents) * churn_per_hour * minutes / 60)
        command_steps = {int(i * steps / commands) for i in range(commands)} if commands else set()
        sync_every = max(1, int(300 / self.heartbeat_s))
        for step in range(steps):
            for s, a in to_boot[step * len(to_boot) // steps:(step + 1) * len(to_boot) // steps]:
                self.sites[s][a] = Presence.ONLINE
            for s, a in to_stop[step * len(to_stop) // steps:(step + 1) * len(to_stop) // steps]:
                self.sites[s][a] = Presence.OFFLINE
            for i in range(step * flips // steps, (step + 1) * flips // steps):
                s, a = all_agents[(i * 7919) % len(all_agents)]
                self.sites[s][a] = Presence.OFFLINE if self.sites[s][a] is Presence.ONLINE else Presence.ONLINE
            for site_id in self.sites:
                self.heartbeat(site_id)
            if step in command_steps:
                self.command(sorted(self.sites)[step % len(self.sites)])
            if clients and step % sync_every == 0:
                for c in range(clients):
                    self.sync(c, changed=c < changed_syncs and step == 0)
            if step % int(300 / self.heartbeat_s) == 0:
                self.sweep()
            if self.dashboard is not None:
                self.dashboard.poll_for(self.heartbeat_s)
            if int(self.now) // 60 != int(self.now + self.heartbeat_s) // 60:
                self.summary_pass()
            self.now += self.heartbeat_s

    def summary_pass(self) -> None:
        """The overview summary's pass, which ``evaluate_alerts`` runs every minute after the alerts (its invocation
        is counted by :meth:`alert_schedule`, sampled once and scaled to every minute of the day)."""
        with self.counter.within("evaluate_alerts"):
            container.get().site_summaries.reconcile()


    def alert_changes(self, count: int) -> None:
        """``count`` agents' alerts fire, then resolve: each change one ``SiteAlerts`` through its site's outbox."""
        all_agents = [(s, a) for s, agents in self.sites.items() for a in agents][:count]
        for seq, state in ((1, "firing"), (2, "resolved")):
            for n, (site_id, agent_id) in enumerate(all_agents):
                target = {"kind": "agent", "agent_id": agent_id, "camera_id": None}
                record = {"alert_id": f"{n:032x}", "key": f"{n:032x}", "seq": seq, "rule_id": "disk-full",
                          "rule_scope": "tenant", "rule_name": "Disk almost full", "severity": "error",
                          "condition_kind": "metric_threshold", "target": target, "state": state,
                          "opened_at": self.now, "changed_at": self.now,
                          **({"resolved_at": self.now} if state == "resolved" else {})}
                self.up_message("site_alerts", {"type": "site_alerts", "v": 1, "alerts": [record],
                                                "site_id": site_id})

    def alert_schedule(self) -> None:
        """One ``evaluate_alerts`` run, without the overview summary's pass (:meth:`run` meters that every minute)."""
        self.meter.invoke("evaluate_alerts")
        with self.counter.within("evaluate_alerts"):
            services = container.get()
            services.alert_evaluator.run()
            services.notifier.retry_due()


def measure(fn: Any, counter: DynamoCounter) -> Meter:
    counter.meter = Meter()
    fn()
    return counter.meter


def naive_minute(tenant: Tenant, counter: DynamoCounter) -> Meter:
    """The naive design: each agent sends its status every 60 s and a Lambda writes its item."""
    repo = container.get().agents._agents  # the repository under the service
    counter.meter = Meter()
    with change_mark.deferred():  # the naive design has no dashboard marks: one bump at the end, not one per item
        _naive_writes(tenant, repo)
    return counter.meter


def _naive_writes(tenant: Tenant, repo: Any) -> None:
    for site_id, agents in tenant.sites.items():
        for agent_id, presence in agents.items():
            tenant.meter.iot_messages += 1
            tenant.meter.rule_triggers += 1
            tenant.meter.lambda_invocations += 1
            current = repo.get(agent_id)
            repo.save(Agent(agent_id, site_id, presence, last_seen=tenant.now, version="1.0.0", hostname=agent_id,
                            changed_at=tenant.now, revision=current.revision if current else None))


def fixed_monthly() -> dict[str, tuple[int, float]]:
    """Per resource type of :data:`PRICE_FIXED_MONTH`: how many the tenant's templates declare, and their $/month."""
    # a resource with a Condition is off with the defaults (the e-mail subscription, the dashboard)
    resources = [r for t in TEMPLATES for r in yaml.safe_load(t.read_text(encoding="utf-8"))["Resources"].values()
                 if "Condition" not in r]
    kinds = [r["Type"] for r in resources]
    kinds += ["CustomMetric"] * len({(json.dumps(m["MetricNamespace"], sort_keys=True), m["MetricName"])
                                     for r in resources if r["Type"] == "AWS::Logs::MetricFilter"
                                     for m in r["Properties"]["MetricTransformations"]})
    return {kind: (kinds.count(kind), kinds.count(kind) * price) for kind, price in PRICE_FIXED_MONTH.items()}


def fleet_of(day: Meter, dashboard_day: Meter) -> Meter:
    """The day without the dashboard's polls."""
    fleet = day.scaled(1.0)
    for name in ("write_units", "read_units", "api_requests", "lambda_invocations", "cdn_requests", "read_items",
                 "lambda_gb_s", "lambda_sized", "secrets_manager"):
        setattr(fleet, name, getattr(day, name) - getattr(dashboard_day, name))
    return fleet


def scaled_costs(meter: Meter, agents: int) -> dict[str, float]:
    """$ per 1,000 agents per month, per item of the bill."""
    return {name: cost * DAYS_PER_MONTH * 1000 / agents for name, cost in meter.cost().items()}


def print_fleet(fleet: Meter, agents: int, previous_run: subprocess.Popen[str] | None) -> None:
    """Where the fleet's dollars go, per function, and its total beside the previous intake's in the same run."""
    previous = json.loads(previous_run.communicate()[0].strip().splitlines()[-1]) if previous_run else None
    print(f"  the fleet (without the dashboard) per function, per day; $ per 1,000 agents per month"
          f"{' (previous: the previous intake, measured in this run)' if previous else ''}:")
    print(f"    {'function':18}{'invocations':>12}{'RU/inv':>8}{'WCU/inv':>8}{'items/inv':>10}{'B/item':>8}"
          f"{'DynamoDB $':>11}{'Lambda $':>9}{'rules $':>8}{'total $':>9}{'previous':>10}")
    rows = sorted(fleet.parts.items(), key=lambda kv: -sum(scaled_costs(kv[1], agents).values()))
    for name, part in rows:
        c = scaled_costs(part, agents)
        n = max(1, part.lambda_invocations)
        before = f"{previous['parts'].get(name, 0.0):>10.2f}" if previous else ""
        print(f"    {name:18}{part.lambda_invocations:>12,}{part.read_units / n:>8.2f}{part.write_units / n:>8.2f}"
              f"{part.write_items / n:>10.2f}{part.write_bytes / max(1, part.write_items):>8.0f}"
              f"{c['dynamodb_writes'] + c['dynamodb_reads']:>11.2f}{c['lambda']:>9.2f}{c['iot_rules']:>8.2f}"
              f"{sum(c.values()):>9.2f}{before}")
    costs = scaled_costs(fleet, agents)
    rest = sum(costs.values()) - sum(sum(scaled_costs(p, agents).values()) for p in fleet.parts.values())
    print(f"    {'(other: IoT, SNS)':18}{'':>74}{rest:>9.2f}")
    if previous:
        print(f"  {'fleet $/1000 agents/month':34}{'this design':>14}{'previous':>14}")
        for name, cost in costs.items():
            if cost or previous["costs"][name]:
                print(f"    {name:32}{cost:>14.2f}{previous['costs'][name]:>14.2f}")
        print(f"  {'FLEET TOTAL (without dashboard)':34}{sum(costs.values()):>14.2f}{previous['total']:>14.2f}"
              f"   ({sum(costs.values()) / previous['total']:.2f}x)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sites", type=int, default=25)
    parser.add_argument("--agents-per-site", type=int, default=40)
    parser.add_argument("--steady-minutes", type=float, default=10.0)
    parser.add_argument("--transition-minutes", type=float, default=15.0,
                        help="length of the sampled morning boot and evening shutdown")
    parser.add_argument("--clients", type=int, default=20, help="ClassTop clients syncing with the cloud directly")
    parser.add_argument("--dashboard-admins", type=int, default=20, help="admins with the overview open")
    parser.add_argument("--dashboard-interval", type=float, default=10.0, help="their refresh interval (s)")
    parser.add_argument("--dashboard-hours", type=float, default=10.0, help="hours a day they keep it open")
    parser.add_argument("--cdn-edges", type=int, default=2,
                        help="CloudFront edge locations the admins reach (each caches the shared link on its own)")
    parser.add_argument("--overview-agents", type=int, default=10_000,
                        help="agents (of --agents-per-site each) of the tenant whose overview is measured last")
    parser.add_argument("--site-heartbeat-s", type=float, default=HEARTBEAT_S,
                        help="the LMS's full heartbeat period (what if; the previous intake runs at the default)")
    parser.add_argument("--previous-intake", action="store_true",
                        help="run the fleet's previous intake (see use_previous_intake)")
    parser.add_argument("--fleet-json", action="store_true",
                        help="print only the fleet's figures (without the dashboard) as one JSON line")
    args = parser.parse_args()
    agents = args.sites * args.agents_per_site
    started = time.monotonic()
    previous_run = None
    if args.previous_intake:
        use_previous_intake()
    elif not args.fleet_json:  # the previous intake measured in the same run, beside this one
        previous_run = subprocess.Popen(
            [sys.executable, __file__, "--previous-intake", "--fleet-json", "--dashboard-admins", "0",
             "--overview-agents", "0", *(f"--{name}={getattr(args, name.replace('-', '_'))}" for name in
                                         ("sites", "agents-per-site", "steady-minutes", "transition-minutes",
                                          "clients"))],
            stdout=subprocess.PIPE, text=True)

    settings = Settings(tenant="bench", stage="bench", region="us-east-1", feed_secret="bench-overview-feed")
    counter = DynamoCounter()
    with mock_aws():
        container.reset()
        tenant = Tenant(counter, args.sites, args.agents_per_site)
        tenant.heartbeat_s = args.site_heartbeat_s
        container.configure(settings=settings, publisher=CountingPublisher(lambda: counter.meter), clock=tenant.clock)
        models.create_tables(settings)
        boto3.client("secretsmanager", region_name="us-east-1").create_secret(  # the template's generated secret
            Name="bench-overview-feed", SecretString=os.urandom(32).hex())
        counter.learn_indexes()
        counter.install()
        try:
            span = args.transition_minutes
            boot = measure(lambda: tenant.run(span, boot=1.0, clients=args.clients, changed_syncs=args.clients),
                           counter)
            dashboard = Dashboard(counter, args.dashboard_admins, args.dashboard_interval, baseline_admins=2)
            dashboard.shared = SharedLinkDashboard(counter, args.dashboard_admins, args.dashboard_interval,
                                                   args.cdn_edges)
            tenant.dashboard = dashboard
            steady = measure(lambda: tenant.run(args.steady_minutes, churn_per_hour=0.02, commands=2,
                                                clients=args.clients, changed_syncs=args.clients // 10), counter)
            tenant.dashboard = None
            rollup_hour = measure(tenant.rollup_hour, counter)
            routes = route_costs(dashboard)
            shutdown = measure(lambda: tenant.run(span, shutdown=1.0, clients=args.clients), counter)
            naive = naive_minute(tenant, counter)
            # alerts: an e-mail channel on the tenant's alerts topic; one schedule run with every site reachable
            # (one heartbeat each first), and a sample of alerts firing and resolving
            topic = boto3.client("sns", region_name="us-east-1").create_topic(Name="alerts")["TopicArn"]
            container.configure(settings=Settings(tenant="bench", stage="bench", region="us-east-1",
                                                  alerts_topic_arn=topic))
            container.get().alert_rules.rules()  # the defaults installed (once per tenant)
            container.get().notifier.add_channel(ChannelKind.EMAIL, "ops@example.com", min_severity="warning",
                                                 quiet_hours=None, digest=False, secret=None)
            for site_id in tenant.sites:
                tenant.heartbeat(site_id)
            schedule_run = measure(tenant.alert_schedule, counter)
            alert_sample = measure(lambda: tenant.alert_changes(ALERT_SAMPLE), counter)
            at_scale = overview_at_scale(dashboard, args.overview_agents, args.agents_per_site, tenant.now) \
                if args.overview_agents else Meter()
        finally:
            counter.uninstall()
            container.reset()

    steady_minutes_per_day = 24 * 60 - 2 * args.transition_minutes
    day = Meter()
    day.add(boot)
    day.add(shutdown)
    day.add(steady.scaled(steady_minutes_per_day / args.steady_minutes))
    # metric rollups: one closed hour of every agent's, measured through the real rule, 24 a day
    day.add(rollup_hour.scaled(24))
    naive_day = naive.scaled(24 * 60)
    alerts_schedule_day = schedule_run.scaled(24 * 60)
    alerts_intake_day = alert_sample.scaled(agents * ALERTS_PER_AGENT_DAY / ALERT_SAMPLE)
    day.add(alerts_schedule_day)
    day.add(alerts_intake_day)
    # the dashboard's polls: the steady sample's, for the hours it is open
    dashboard_day = dashboard.meter.scaled(args.dashboard_hours * 60 / args.steady_minutes)
    unconditional_day = dashboard.baseline.scaled(args.dashboard_hours * 60 / args.steady_minutes
                                                  * args.dashboard_admins / max(1, dashboard.baseline_admins))
    shared = dashboard.shared
    assert shared is not None
    shared_day = shared.meter.scaled(args.dashboard_hours * 60 / args.steady_minutes)
    feed_requests_day = args.dashboard_admins * (1 + args.dashboard_hours * 3600 / BUCKET_S)
    shared_day.add(shared.feed_meter.scaled(feed_requests_day / max(1, shared.feed_requests)))
    # the secret, and its reads: one per KEY_CACHE_S per warm API function while the dashboard is open
    shared_day.secrets_manager = (PRICE_SECRET_MONTH / DAYS_PER_MONTH
                                  + args.dashboard_hours * 3600 / KEY_CACHE_S * PRICE_SECRET_CALL)
    day.add(shared_day)  # this design; the previous one (every poll to the API) is printed beside it

    def per_1000_month(m: Meter) -> float:
        return sum(m.cost().values()) * DAYS_PER_MONTH * 1000 / agents

    fleet = fleet_of(day, shared_day)
    if args.fleet_json:
        print(json.dumps({"total": per_1000_month(fleet), "costs": scaled_costs(fleet, agents),
                          "parts": {name: sum(scaled_costs(part, agents).values())
                                    for name, part in fleet.parts.items()}}))
        return 0
    steady_writes_per_agent_5min = steady.write_units / agents / (args.steady_minutes / 5)
    print(f"cloud_cost: {args.sites} sites x {args.agents_per_site} agents = {agents} agents; moto in-process, "
          f"simulated clock; finished in {time.monotonic() - started:.0f} s")
    print(f"  day = morning boot + evening shutdown ({args.transition_minutes:g} min each, every agent changes, "
          f"measured) + steady {args.steady_minutes:g} min measured and extrapolated "
          f"x{steady_minutes_per_day / args.steady_minutes:.0f} to the rest of the day; "
          f"{args.clients} ClassTop clients syncing every 5 min; "
          f"metric rollups: one hour measured, x24")
    print(f"  steady state: {steady_writes_per_agent_5min:.3f} DynamoDB write units per agent per 5 min "
          f"(goal <= 1); per agent-day {day.write_units / agents:.1f} WCU")
    print(f"  overview summary (its items' writes, in the figures below): {day.summary_write_units:,.0f} write units "
          f"/ day ({100 * day.summary_write_units / max(1.0, day.write_units):.2f}% of the day's), "
          f"${day.summary_write_units * PRICE_DDB_WRITE_UNIT * DAYS_PER_MONTH * 1000 / agents:.3f} per 1,000 agents "
          f"/ month; by the intake {day.part('site_heartbeat').summary_write_units:,.0f}, by the minute's pass "
          f"{day.part('evaluate_alerts').summary_write_units:,.0f}; in the boot {boot.summary_write_units:,.0f}, "
          f"the shutdown {shutdown.summary_write_units:,.0f}, the steady sample {steady.summary_write_units:,.0f}")
    previous_day = day.without_basic_ingest()
    print(f"  {'':34}{'this design':>14}{'previous':>14}{'naive (60 s)':>14}   (previous: the same traffic, "
          "measured in this run, with the LMS's messages through the broker instead of Basic Ingest)")
    rows = [("DynamoDB write units / day", day.write_units, previous_day.write_units, naive_day.write_units),
            ("DynamoDB read units / day", day.read_units, previous_day.read_units, naive_day.read_units),
            ("IoT messages / day (billed)", day.iot_messages, previous_day.iot_messages, naive_day.iot_messages),
            ("Basic Ingest messages / day (free)", day.ingest_messages, previous_day.ingest_messages, 0),
            ("IoT rule triggers / day", day.rule_triggers, previous_day.rule_triggers, naive_day.rule_triggers),
            ("Lambda invocations / day", day.lambda_invocations, previous_day.lambda_invocations,
             naive_day.lambda_invocations),
            ("API requests / day", day.api_requests, previous_day.api_requests, naive_day.api_requests)]
    for name, ours, before, theirs in rows:
        print(f"  {name:34}{ours:>14,.0f}{before:>14,.0f}{theirs:>14,.0f}")
    ours_cost, previous_cost, naive_cost = day.cost(), previous_day.cost(), naive_day.cost()
    scale = DAYS_PER_MONTH * 1000 / agents
    for name in ours_cost:
        print(f"  {'$/1000 agents/month ' + name:34}{ours_cost[name] * scale:>14.2f}"
              f"{previous_cost[name] * scale:>14.2f}{naive_cost[name] * scale:>14.2f}")
    total, previous_total, naive_total = per_1000_month(day), per_1000_month(previous_day), per_1000_month(naive_day)
    print(f"  {'TOTAL $ per 1,000 agents / month':34}{total:>14.2f}{previous_total:>14.2f}{naive_total:>14.2f}"
          f"   (goals: < $10 issue 12, < $5 issue 18)")
    print(f"  {'  of which the dashboard':34}{per_1000_month(shared_day):>14.2f}"
          f"{per_1000_month(shared_day):>14.2f}   (the fleet without it: ${per_1000_month(fleet):.2f})")
    shared_cost, polled_cost = shared_day.cost(), dashboard_day.cost()
    print("  previous dashboard design by line: " + ", ".join(
        f"{name} {(ours_cost[name] - shared_cost[name] + polled_cost[name]) * scale:.2f}" for name in ours_cost))
    print(f"  {'TOTAL, previous dashboard design':34}{per_1000_month(fleet) + per_1000_month(dashboard_day):>14.2f}"
          f"   (every admin's poll reaches API Gateway and Lambda: the dashboard "
          f"${per_1000_month(dashboard_day):.2f}; now through the shared link and CloudFront's cache: "
          f"${per_1000_month(shared_day):.2f})")
    print_fleet(fleet, agents, previous_run)
    print(f"  DynamoDB ops in the steady sample: {dict(sorted(steady.ops.items()))}")
    print(f"  alerts (in the total above): schedule every minute ({args.sites} sites, none open) "
          f"${per_1000_month(alerts_schedule_day):.2f}; intake + notifications ({ALERTS_PER_AGENT_DAY:g} alert per "
          f"agent per day, fired and resolved, one e-mail channel: {alerts_intake_day.notifications:,} e-mails/day) "
          f"${per_1000_month(alerts_intake_day):.2f} per 1,000 agents / month")
    print(f"  dashboard: {args.dashboard_admins} admins, overview every {args.dashboard_interval:g} s, "
          f"{args.dashboard_hours:g} h/day (included above): {dashboard.not_modified}/{dashboard.polls} polls "
          f"answered 304 ({100 * dashboard.not_modified / max(1, dashboard.polls):.0f}%)")
    print(f"  shared link, in the sample: {shared.polls} polls, {shared.origin_requests} reached the API "
          f"({shared.origin_not_modified} of them 304s) through {shared.edges} CloudFront edge caches (assumed: "
          f"each revalidates on its own every max-age {MAX_AGE_S} s); feed requests {feed_requests_day:,.0f}/day "
          f"(each admin when the page opens and every {BUCKET_S // 60} min); the Secrets Manager secret "
          f"${PRICE_SECRET_MONTH:.2f}/month")
    print(f"  {'':34}{'shared link':>14}{'If-None-Match':>14}{'plain GETs':>14}")
    for name, link, ours, theirs in (("dashboard read units / day", shared_day.read_units, dashboard_day.read_units,
                                      unconditional_day.read_units),
                                     ("dashboard API requests / day", shared_day.api_requests,
                                      dashboard_day.api_requests, unconditional_day.api_requests),
                                     ("dashboard CloudFront requests / day", shared_day.cdn_requests,
                                      dashboard_day.cdn_requests, unconditional_day.cdn_requests)):
        print(f"  {name:34}{link:>14,.0f}{ours:>14,.0f}{theirs:>14,.0f}")
    print(f"  {'dashboard $/month (whole tenant)':34}{sum(shared_day.cost().values()) * DAYS_PER_MONTH:>14.2f}"
          f"{sum(dashboard_day.cost().values()) * DAYS_PER_MONTH:>14.2f}"
          f"{sum(unconditional_day.cost().values()) * DAYS_PER_MONTH:>14.2f}")
    print(f"  DynamoDB per request of the dashboard's main routes ({args.sites} sites, {agents} agents):")
    print(f"    {'route':32}{'read units':>12}{'items read':>12}{'write units':>12}")
    for path, meter in routes:
        print(f"    {path:32}{meter.read_units:>12.1f}{meter.read_items:>12}{meter.write_units:>12.1f}")
    print(f"    {f'/api/overview, {args.overview_agents:,} agents':32}{at_scale.read_units:>12.1f}"
          f"{at_scale.read_items:>12}{at_scale.write_units:>12.1f}   (goal: under 10 items; "
          f"{args.overview_agents // args.agents_per_site} sites of {args.agents_per_site}, a week of commands)")
    fixed = fixed_monthly()
    fixed_per_1000 = sum(cost for _, cost in fixed.values()) * 1000 / agents
    print("  fixed each month per tenant stage (the templates' resources; not in the figures above): "
          + ", ".join(f"{kind.split('::')[-1]} {n} x ${PRICE_FIXED_MONTH[kind]:.2f} = ${cost:.2f}"
                      for kind, (n, cost) in fixed.items())
          + "; CloudWatch Logs ingestion ($0.50 per GB) not metered")
    total += fixed_per_1000
    print(f"  {'TOTAL with the fixed costs':34}{total:>14.2f}   ($ per 1,000 agents / month, this tenant of {agents:,} "
          f"agents: the fixed part shrinks with larger tenants)")
    write_results("cloud_cost", [
        Figure("$ per 1,000 agents / month (fixed costs in)", total, "$", naive_total + fixed_per_1000,
               "naive design, 60 s writes", max_value=5.0),
        Figure(f"overview of {args.overview_agents:,} agents: items read", at_scale.read_items, "items",
               max_value=10.0)], params=vars(args))  # fmt: skip
    ok = steady_writes_per_agent_5min <= 1.0 and total < 10.0
    print(f"  goals: < $10 (issue 12) {'met' if total < 10 else 'NOT met'}; < $5 (issue 18) "
          f"{'met' if total < 5 else 'NOT met'}; <= 1 WCU per agent per 5 min "
          f"{'met' if steady_writes_per_agent_5min <= 1.0 else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
