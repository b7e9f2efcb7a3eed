"""The twin's Device Shadow service: shadow documents with AWS IoT's rules and limits, in memory.

One :class:`ShadowDocuments` holds every shadow (classic and named) of every thing, and applies the rules of the
AWS IoT Developer Guide (pages "Device Shadow service documents", "Interacting with shadows", "Device Shadow
MQTT topics", "Device Shadow REST API", "Device Shadow error messages") and of "AWS IoT Core endpoints and
quotas" (device shadow limits). It knows nothing of MQTT or HTTP: ``infra/local/shadows.py`` answers devices
on the stand-in broker and ``infra/local/shadow_api.py`` serves the ``iot-data`` HTTP API, both with it.

* ``update`` merges the request's ``desired``/``reported`` into the document field by field; ``null`` removes a
  field (and its metadata), ``"desired": null`` the whole section; arrays are values (replaced whole, no
  ``null`` in them). Each leaf keeps its own metadata ``timestamp``, set only when that leaf is written. Every
  accepted update increments ``version``; a request's ``version`` must equal the document's (else 409).
* Limits, checked before anything is stored (the request's own in :mod:`infra.local.shadow_requests`): the
  resulting ``desired`` + ``reported`` state (compact JSON, metadata excluded) at most 8 KB (413, so two accepted
  5 KB updates under different keys cannot make a 10 KB shadow); at most 6 levels of nesting in
  ``desired``/``reported`` (400); ``clientToken`` a string of at most 64 bytes (400 "Invalid clientToken"); a
  request of at most 128 KB (AWS's MQTT payload limit; 413).
* ``delete`` removes the document; the shadow's version is remembered for 48 hours, so a shadow created again
  within that time continues from it ("deleting a shadow does not reset its version number to 0"; "If you
  create a device shadow document that has the same name as one that was deleted within the past 48 hours, the
  version number of the new device shadow document will follow that of the deleted one").
* At most 20 requests per second per thing (update, get, delete of any of its shadows, MQTT or REST): beyond,
  429 (throttled).
* Every answer's ``timestamp`` is the time of the answer; ``clientToken`` is echoed.

The checks that need no document are :mod:`infra.local.shadow_requests`. A thing need not exist in the registry:
the service does not look there (a difference listed in docs/architecture.md).
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from infra.local.shadow_requests import (
    ShadowRequestError,
    check_names,
    check_token,
    client_token,
    invalid,
    no_such_shadow,
    parse_json,
    parse_update,
    token_of,
)

#: "Maximum size of a JSON state document: 8 KB" -- desired and reported only, metadata excluded
MAX_STATE_BYTES = 8 * 1024
#: a shadow created again within 48 hours of its deletion continues its version
VERSION_MEMORY_S = 48 * 3600
#: "The Device Shadow service supports up to 20 requests per second per thing ... this limit is per thing and not
#: per API" (quotas): update, get and delete of any of the thing's shadows, MQTT or REST; beyond it, 429
REQUESTS_PER_THING_S = 20
#: ListNamedShadowsForThing's page size bounds (API reference: pageSize 1-100)
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 25

def _leaf_metadata(value: Any, now: int) -> Any:
    """The metadata of a written value: ``{"timestamp": now}`` per leaf, arrays element by element."""
    if isinstance(value, dict):
        return {k: _leaf_metadata(v, now) for k, v in value.items()}
    if isinstance(value, list):
        return [_leaf_metadata(v, now) for v in value]
    return {"timestamp": now}


def _merge(state: dict[str, Any], metadata: dict[str, Any], patch: dict[str, Any], now: int) -> None:
    """Merge ``patch`` into ``state`` (and its metadata) as AWS does: objects field by field, ``null`` removes,
    everything else (scalars, arrays) replaces. An object left empty by its removals is removed too."""
    for key, value in patch.items():
        if value is None:
            state.pop(key, None)
            metadata.pop(key, None)
        elif isinstance(value, dict):
            current = state.get(key)
            if not isinstance(current, dict):  # an object replaces a scalar or an array
                current = state[key] = {}
                metadata[key] = {}
            child_meta = metadata.setdefault(key, {})
            _merge(current, child_meta, value, now)
            if not current and value and all(v is None for v in value.values()):
                del state[key]
                metadata.pop(key, None)
        else:
            state[key] = copy.deepcopy(value)
            metadata[key] = _leaf_metadata(value, now)


def shadow_delta(desired: Any, reported: Any) -> dict[str, Any]:
    """AWS's delta: the desired fields absent from or different in reported (objects compared recursively,
    arrays and scalars compared whole)."""
    if not isinstance(desired, dict):
        return {}
    reported = reported if isinstance(reported, dict) else {}
    out: dict[str, Any] = {}
    for key, want in desired.items():
        have = reported.get(key)
        if isinstance(want, dict) and isinstance(have, dict):
            sub = shadow_delta(want, have)
            if sub:
                out[key] = sub
        elif key not in reported or have != want:
            out[key] = want
    return out


def _metadata_of(delta: dict[str, Any], metadata: dict[str, Any]) -> dict[str, Any]:
    """The desired metadata of the delta's fields ("its values are equal to the metadata in the desired field")."""
    out: dict[str, Any] = {}
    for key, value in delta.items():
        meta = metadata.get(key)
        if isinstance(value, dict) and isinstance(meta, dict):
            out[key] = _metadata_of(value, meta)
        elif meta is not None:
            out[key] = meta
    return out


def state_bytes(state: dict[str, Any]) -> int:
    """The size AWS counts: the desired and reported state as compact UTF-8 JSON, without metadata."""
    return len(json.dumps(state, separators=(",", ":"), ensure_ascii=False).encode())


@dataclass
class _Shadow:
    state: dict[str, Any]  # "desired" / "reported" (each present only when not empty)
    metadata: dict[str, Any]
    version: int

    def view(self) -> dict[str, Any]:
        """The document as ``update/documents`` shows it: state (no delta), metadata, version."""
        return {"state": copy.deepcopy(self.state), "metadata": copy.deepcopy(self.metadata), "version": self.version}


@dataclass(frozen=True)
class UpdateResult:
    """An accepted update: what IoT Core answers and publishes."""

    accepted: dict[str, Any]  # update/accepted (and UpdateThingShadow's response)
    documents: dict[str, Any]  # update/documents
    delta: dict[str, Any] | None  # update/delta, when the request wrote desired and desired differs from reported


class ShadowDocuments:
    """Every shadow of the twin, thread-safe. ``clock`` gives epoch seconds (tests pass a hand-set one)."""

    def __init__(self, clock: Callable[[], float] = time.time, *,
                 requests_per_thing_s: int = REQUESTS_PER_THING_S) -> None:  # fmt: skip
        self._clock = clock
        self._rate = requests_per_thing_s
        self._recent: dict[str, deque[float]] = {}  # thing -> when its last requests came (the past second)
        self._lock = threading.Lock()
        self._shadows: dict[tuple[str, str | None], _Shadow] = {}
        self._deleted: dict[tuple[str, str | None], tuple[int, float]] = {}  # version, when deleted

    def _admit(self, thing: str) -> None:
        """Count one request to ``thing``; 429 past :data:`REQUESTS_PER_THING_S` within the past second (a refused
        request counts too, as a request made)."""
        now = self._clock()
        with self._lock:
            recent = self._recent.setdefault(thing, deque())
            while recent and recent[0] <= now - 1.0:
                recent.popleft()
            recent.append(now)
            if len(recent) > self._rate:
                raise ShadowRequestError(429, "Too Many Requests")
            if len(self._recent) > 10_000:  # forget idle things now and then
                self._recent = {t: q for t, q in self._recent.items() if q and q[-1] > now - 1.0}

    def now(self) -> int:
        """The service's time (epoch seconds): every answer's ``timestamp``."""
        return int(self._clock())

    def update(self, thing: str, name: str | None, payload: bytes) -> UpdateResult:
        """Apply one update request (``name`` None: the classic shadow)."""
        check_names(thing, name)
        self._admit(thing)
        request = parse_update(payload)
        token = client_token(request)
        with self._lock:
            now = self.now()
            key = (thing, name)
            shadow = self._shadows.get(key)
            if "version" in request and (shadow is None or request["version"] != shadow.version):
                raise ShadowRequestError(409, "Version conflict")
            previous = shadow.view() if shadow is not None else None
            state = copy.deepcopy(shadow.state) if shadow else {}
            metadata = copy.deepcopy(shadow.metadata) if shadow else {}
            for section, patch in request["state"].items():
                if patch is None:
                    state.pop(section, None)
                    metadata.pop(section, None)
                    continue
                _merge(state.setdefault(section, {}), metadata.setdefault(section, {}), patch, now)
                if not state[section]:
                    del state[section]
                    metadata.pop(section, None)
            if state_bytes(state) > MAX_STATE_BYTES:
                raise ShadowRequestError(413, "The payload exceeds the maximum size allowed")
            version = shadow.version if shadow is not None else self._remembered_version(key, now)
            current = _Shadow(state, metadata, version + 1)
            self._shadows[key] = current
            self._deleted.pop(key, None)
        accepted: dict[str, Any] = {
            "state": request["state"],
            "metadata": {s: _leaf_metadata(p, now) if p is not None else {"timestamp": now}
                         for s, p in request["state"].items()},
            "version": current.version,
            "timestamp": now,
        }  # fmt: skip
        documents: dict[str, Any] = {"previous": previous, "current": current.view(), "timestamp": now}
        delta_message: dict[str, Any] | None = None
        delta = shadow_delta(state.get("desired"), state.get("reported"))
        if isinstance(request["state"].get("desired"), dict) and delta:
            delta_message = {"version": current.version, "timestamp": now, "state": delta,
                             "metadata": _metadata_of(delta, metadata.get("desired", {}))}  # fmt: skip
        for body in (accepted, documents, delta_message):
            if body is not None and token is not None:
                body["clientToken"] = token
        return UpdateResult(accepted, documents, delta_message)

    def _remembered_version(self, key: tuple[str, str | None], now: int) -> int:
        deleted = self._deleted.get(key)
        if deleted is None or now - deleted[1] > VERSION_MEMORY_S:
            return 0
        return deleted[0]

    def get(self, thing: str, name: str | None, payload: bytes = b"") -> dict[str, Any]:
        """The whole document with ``state.delta``, ``metadata``, ``version``, and this answer's ``timestamp``."""
        check_names(thing, name)
        self._admit(thing)
        token = self._request_token(payload)
        with self._lock:
            shadow = self._shadows.get((thing, name))
            if shadow is None:
                raise no_such_shadow(thing, name)
            document = shadow.view()
            now = self.now()
        delta = shadow_delta(document["state"].get("desired"), document["state"].get("reported"))
        if delta:
            document["state"]["delta"] = delta
        document["timestamp"] = now
        if token is not None:
            document["clientToken"] = token
        return document

    def delete(self, thing: str, name: str | None, payload: bytes = b"") -> dict[str, Any]:
        """Delete the shadow: ``{"version", "timestamp"}`` (+ ``clientToken``). "The content of the message is
        ignored" but for the ``clientToken`` echoed."""
        check_names(thing, name)
        self._admit(thing)
        token = token_of(payload)
        with self._lock:
            shadow = self._shadows.pop((thing, name), None)
            if shadow is None:
                raise no_such_shadow(thing, name)
            now = self.now()
            self._deleted[(thing, name)] = (shadow.version, now)
        answer: dict[str, Any] = {"version": shadow.version, "timestamp": now}
        if token is not None:
            answer["clientToken"] = token
        return answer

    def list_named(self, thing: str, next_token: str | None = None, page_size: int | None = None) -> dict[str, Any]:
        """ListNamedShadowsForThing: the thing's named shadows (never the classic one; an empty list for a thing
        with none), ``page_size`` at a time, ``nextToken`` while more remain."""
        check_names(thing, None)
        size = DEFAULT_PAGE_SIZE if page_size is None else page_size
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise invalid(f"pageSize must be between 1 and {MAX_PAGE_SIZE}")
        with self._lock:
            names = sorted(n for (t, n) in self._shadows if t == thing and n is not None)
            now = self.now()
        start = 0
        if next_token is not None:
            if not next_token.isdigit() or int(next_token) > len(names):
                raise invalid("Invalid nextToken")
            start = int(next_token)
        answer: dict[str, Any] = {"results": names[start:start + size], "timestamp": now}
        if start + size < len(names):
            answer["nextToken"] = str(start + size)
        return answer

    @staticmethod
    def _request_token(payload: bytes) -> str | None:
        """A get request's ``clientToken``: the payload is empty or a JSON object."""
        if not payload.strip():
            return None
        request = parse_json(payload)
        if not isinstance(request, dict):
            raise invalid("Invalid JSON")
        check_token(request)
        return client_token(request)
