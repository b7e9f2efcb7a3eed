"""The stored formats of an agent's hour of metric rollups (``metric_rollup`` items): the packed binary one written
today, and the two JSON ones written before, read until they expire (docs/data-model.md, "Metric charts").

* **Format 3** (``packed``, a Binary attribute): bytes ``[3, n]`` and ``n`` buckets, each unsigned LEB128 varints:
  ``start - hour``, ``period_s``, ``samples``, a presence mask of the twelve optional figures (bit ``k`` for
  ``BUCKET_FIELDS[6 + k]``), ``cpu_min``, ``cpu_avg``, ``cpu_max``, then the present optional figures in column
  order. Percentages (CPU, memory, disk) are stored in hundredths, network rates in whole bytes/s: exactly what the
  LMS sends (it rounds to 2 decimals and to whole bytes/s, ``edge/lms/cloud/rollup_sync.py``), so nothing a chart
  shows is lost; another sender's extra decimals are rounded to 2. A typical hour with every figure is ≈0.6 KB,
  the widest possible ≈0.7 KB: the item fits in one write unit (1 KB) where the JSON needed two.
* **Format 2** (``buckets``, text): ``{"v": 2, "b": [[start, period_s, samples, cpu_min, ...], ...]}``, one row per
  bucket in :data:`BUCKET_FIELDS` order, trailing nulls dropped.
* **Format 1** (``buckets``, text): a list of objects ``[{start, period_s, samples, cpu_min, ...}]``.

A stored value that is not one of these (truncated, a wrong marker, a number out of range) raises
:class:`CorruptRollup` naming what is wrong; the repository skips that hour rather than fail the chart.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from chalicelib.domain.metric_bucket import BUCKET_FIELDS, MetricBucket
from chalicelib.errors import CorruptStoredData

#: the packed format's marker (its first byte); the JSON formats are 1 (no marker) and 2 (``"v": 2``)
PACKED_FORMAT = 3
#: the text format read from older items
JSON_FORMAT = 2
#: the optional figures' columns (the presence mask's bits, in order)
_OPTIONAL = BUCKET_FIELDS[6:]
#: figures stored in hundredths (percentages); the rest (network rates) are whole numbers
_HUNDREDTHS = frozenset(name for name in BUCKET_FIELDS[3:] if not name.startswith("net_"))
#: a varint longer than this is corrupt (2^63 needs 10 bytes; nothing stored comes near)
_MAX_VARINT_BYTES = 10
#: at most this many buckets in an hour (one per minute at the smallest period the contract allows)
_MAX_BUCKETS = 60


class CorruptRollup(CorruptStoredData):
    """A stored hour of metric rollups that none of the formats reads."""


def encode_packed(hour: int, buckets: Sequence[MetricBucket]) -> bytes:
    """An hour's buckets (each starting within ``[hour, hour + 3600)``, oldest first) in format 3."""
    if len(buckets) > _MAX_BUCKETS:
        raise ValueError(f"{len(buckets)} buckets in the hour {hour}: at most {_MAX_BUCKETS}")
    out = bytearray((PACKED_FORMAT, len(buckets)))
    for bucket in buckets:
        offset = bucket.start - hour
        if not 0 <= offset < 3600:
            raise ValueError(f"bucket at {bucket.start} is not in the hour {hour}")
        present = [(k, name) for k, name in enumerate(_OPTIONAL) if getattr(bucket, name) is not None]
        fields = [offset, bucket.period_s, bucket.samples, sum(1 << k for k, _ in present)]
        fields += [_stored(name, getattr(bucket, name)) for name in ("cpu_min", "cpu_avg", "cpu_max")]
        fields += [_stored(name, getattr(bucket, name)) for _, name in present]
        for value in fields:
            out += _varint(value)
    return bytes(out)


def decode_packed(hour: int, data: bytes) -> list[MetricBucket]:
    """Format 3 back into buckets; :class:`CorruptRollup` when ``data`` is not a whole, well-formed value."""
    reader = _Reader(hour, data)
    if reader.byte("format marker") != PACKED_FORMAT:
        raise CorruptRollup(f"metric rollup hour {hour}: packed value has format marker {data[0]}, not {PACKED_FORMAT}")
    count = reader.byte("bucket count")
    if count > _MAX_BUCKETS:
        raise CorruptRollup(f"metric rollup hour {hour}: {count} buckets (at most {_MAX_BUCKETS})")
    buckets = [reader.bucket() for _ in range(count)]
    if reader.pos != len(data):
        raise CorruptRollup(f"metric rollup hour {hour}: {len(data) - reader.pos} bytes after the last bucket")
    return buckets


def decode_json(text: str) -> list[MetricBucket]:
    """Formats 1 and 2 (``buckets`` text) back into buckets; :class:`CorruptRollup` when they do not read."""
    try:
        raw = json.loads(text)
        if isinstance(raw, list):  # format 1: one object per bucket
            return [_from_dict(b) for b in raw]
        if not isinstance(raw, dict) or raw.get("v") != JSON_FORMAT or not isinstance(raw.get("b"), list):
            raise CorruptRollup(f"metric rollup buckets: neither a list nor {{'v': {JSON_FORMAT}, 'b': [...]}}")
        return [_from_dict(dict(zip(BUCKET_FIELDS, row, strict=False))) for row in raw["b"]]
    except CorruptRollup:
        raise
    except (ValueError, TypeError, KeyError) as exc:  # JSONDecodeError is a ValueError
        raise CorruptRollup(f"metric rollup buckets do not read: {type(exc).__name__}: {exc}") from exc


def _stored(name: str, value: float) -> int:
    number = float(value) * 100 if name in _HUNDREDTHS else float(value)
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{name} = {value!r}: a finite number >= 0 is stored")
    return round(number)


def _varint(value: int) -> bytes:
    if value < 0:
        raise ValueError(f"{value} < 0 has no unsigned varint")
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


class _Reader:
    def __init__(self, hour: int, data: bytes) -> None:
        self.hour = hour
        self.data = data
        self.pos = 0

    def byte(self, what: str) -> int:
        if self.pos >= len(self.data):
            raise CorruptRollup(f"metric rollup hour {self.hour}: packed value ends before its {what}")
        self.pos += 1
        return self.data[self.pos - 1]

    def varint(self, what: str) -> int:
        value = 0
        for shift in range(0, 7 * _MAX_VARINT_BYTES, 7):
            b = self.byte(what)
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
        raise CorruptRollup(f"metric rollup hour {self.hour}: {what} is longer than {_MAX_VARINT_BYTES} bytes")

    def figure(self, name: str) -> float:
        value = self.varint(name)
        if name in _HUNDREDTHS:
            if value > 10_000:
                raise CorruptRollup(f"metric rollup hour {self.hour}: {name} {value / 100} is over 100 %")
            return value / 100
        return float(value)

    def bucket(self) -> MetricBucket:
        offset = self.varint("start")
        if offset >= 3600:
            raise CorruptRollup(f"metric rollup hour {self.hour}: a bucket starts {offset} s after the hour")
        period_s, samples, mask = self.varint("period_s"), self.varint("samples"), self.varint("presence mask")
        if mask >> len(_OPTIONAL):
            raise CorruptRollup(f"metric rollup hour {self.hour}: presence mask {mask:#x} names unknown figures")
        cpu = [self.figure(name) for name in ("cpu_min", "cpu_avg", "cpu_max")]
        optional = {name: self.figure(name) for k, name in enumerate(_OPTIONAL) if mask >> k & 1}
        return MetricBucket(self.hour + offset, period_s, samples, *cpu, **optional)


def _from_dict(raw: dict[str, Any]) -> MetricBucket:
    return MetricBucket(
        start=int(raw["start"]),
        period_s=int(raw["period_s"]),
        samples=int(raw["samples"]),
        cpu_min=float(raw["cpu_min"]),
        cpu_avg=float(raw["cpu_avg"]),
        cpu_max=float(raw["cpu_max"]),
        **{name: None if raw.get(name) is None else float(raw[name]) for name in _OPTIONAL},
    )
