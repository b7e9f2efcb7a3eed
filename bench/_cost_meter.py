"""What ``bench/cloud_cost.py`` counts: the :class:`Meter` of billed units, the :class:`DynamoCounter` that fills it
from botocore's DynamoDB calls (capacity as AWS bills it, see cloud_cost's module doc), and the IoT publisher that
counts messages."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import botocore.client

from bench._aws_prices import (
    DAYS_PER_MONTH,
    LAMBDA_AVG_S,
    LAMBDA_MEMORY_GB,
    PRICE_CLOUDFRONT_REQUEST,
    PRICE_DDB_READ_UNIT,
    PRICE_DDB_WRITE_UNIT,
    PRICE_HTTP_API_REQUEST,
    PRICE_IOT_MESSAGE,
    PRICE_IOT_RULE,
    PRICE_LAMBDA_GB_S,
    PRICE_LAMBDA_REQUEST,
    PRICE_S3_GET,
    PRICE_S3_PUT,
    PRICE_SNS_EMAIL,
    PRICE_TRANSFER_OUT_GB,
    function_memory_gb,
)
from chalicelib import models
from chalicelib.adapters.iot import RecordingPublisher

_WRITES = {"PutItem", "UpdateItem", "DeleteItem"}
_READS = {"GetItem", "Query", "BatchGetItem", "Scan"}
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
    #: S3 requests of the overview's objects (the dashboard's polls and preflights; the writes) and what they send
    s3_gets: int = 0
    s3_puts: int = 0
    transfer_bytes: int = 0  # out of AWS to the internet (the objects and their 304s, headers included)
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
            "api_gateway": self.api_requests * PRICE_HTTP_API_REQUEST,
            "cloudfront": self.cdn_requests * PRICE_CLOUDFRONT_REQUEST,
            "sns_email": self.notifications * PRICE_SNS_EMAIL,
            "s3": self.s3_gets * PRICE_S3_GET + self.s3_puts * PRICE_S3_PUT,
            "data_transfer": self.transfer_bytes / 2**30 * PRICE_TRANSFER_OUT_GB,
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
                     round(self.s3_gets * factor), round(self.s3_puts * factor),
                     round(self.transfer_bytes * factor),
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
        self.s3_gets += other.s3_gets
        self.s3_puts += other.s3_puts
        self.transfer_bytes += other.transfer_bytes
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
        self._real = botocore.client.BaseClient._make_api_call  # type: ignore[attr-defined]  # not in botocore-stubs

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

        botocore.client.BaseClient._make_api_call = call  # type: ignore[attr-defined]

    def uninstall(self) -> None:
        botocore.client.BaseClient._make_api_call = self._real  # type: ignore[attr-defined]

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



def measure(fn: Any, counter: DynamoCounter) -> Meter:
    counter.meter = Meter()
    fn()
    return counter.meter



def fleet_of(day: Meter, dashboard_day: Meter) -> Meter:
    """The day without the dashboard's polls."""
    fleet = day.scaled(1.0)
    for name in ("write_units", "read_units", "api_requests", "lambda_invocations", "cdn_requests", "read_items",
                 "lambda_gb_s", "lambda_sized", "s3_gets", "s3_puts", "transfer_bytes"):
        setattr(fleet, name, getattr(day, name) - getattr(dashboard_day, name))
    return fleet


def scaled_costs(meter: Meter, agents: int) -> dict[str, float]:
    """$ per 1,000 agents per month, per item of the bill."""
    return {name: cost * DAYS_PER_MONTH * 1000 / agents for name, cost in meter.cost().items()}

