"""The twin's shadow documents (``infra/local/shadow_documents.py``) in process: the rules the conformance module
(``tests/integration/infra/test_shadow_conformance.py``) checks over MQTT, at their edges."""

from __future__ import annotations

import json

import pytest

from infra.local.shadow_documents import MAX_STATE_BYTES, ShadowDocuments, state_bytes
from infra.local.shadow_requests import ShadowRequestError
from tests.fixtures.clock import Clock


def update(documents: ShadowDocuments, body: dict[str, object], name: str | None = "s") -> int:
    version = documents.update("thing", name, json.dumps(body).encode()).accepted["version"]
    assert isinstance(version, int)
    return version


def refused(documents: ShadowDocuments, body: dict[str, object] | bytes) -> tuple[int, str]:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    with pytest.raises(ShadowRequestError) as caught:
        documents.update("thing", "s", payload)
    return caught.value.code, caught.value.message


def test_the_state_may_reach_8_kb_exactly_and_not_one_byte_more() -> None:
    documents = ShadowDocuments(Clock())
    overhead = state_bytes({"reported": {"a": ""}})
    update(documents, {"state": {"reported": {"a": "x" * (MAX_STATE_BYTES - overhead)}}})
    assert refused(documents, {"state": {"reported": {"a": "x" * (MAX_STATE_BYTES - overhead + 1)}}})[0] == 413
    # metadata, the token and the request's whitespace are not counted
    body = {"state": {"reported": {"a": "y" * (MAX_STATE_BYTES - overhead)}}, "clientToken": "t" * 64}
    assert documents.update("thing", "s", json.dumps(body, indent=8).encode()).accepted["version"] == 2


def test_levels_count_keys_along_the_deepest_path() -> None:
    documents = ShadowDocuments(Clock())
    # the quotas page's example ends in an empty object; arrays of scalars are values, of objects a level
    update(documents, {"state": {"desired": {"1": {"2": {"3": {"4": {"5": {"6": {}}}}}}}}})
    update(documents, {"state": {"desired": {"1": {"2": {"3": {"4": {"5": {"6": [1, 2]}}}}}}}})
    deep: dict[str, object] = {"state": {"desired": {"1": {"2": {"3": {"4": {"5": {"6": [{"7": 1}]}}}}}}}}
    assert refused(documents, deep) == (400, "JSON contains too many levels of nesting; maximum is 6")


def test_an_object_emptied_by_nulls_goes_and_a_written_empty_object_stays() -> None:
    documents = ShadowDocuments(Clock())
    update(documents, {"state": {"desired": {"lights": {"r": 1}, "kept": {}}}})
    update(documents, {"state": {"desired": {"lights": {"r": None}}}})
    document = documents.get("thing", "s")
    assert document["state"] == {"desired": {"kept": {}}, "delta": {"kept": {}}}
    assert document["metadata"] == {"desired": {"kept": {}}}


def test_an_object_replaces_a_scalar_and_a_scalar_an_object_with_their_metadata() -> None:
    clock = Clock(1000)
    documents = ShadowDocuments(clock)
    update(documents, {"state": {"reported": {"a": 1, "b": {"x": 1}}}})
    clock.now = 2000
    update(documents, {"state": {"reported": {"a": {"y": 2}, "b": 3}}})
    document = documents.get("thing", "s")
    assert document["state"]["reported"] == {"a": {"y": 2}, "b": 3}
    assert document["metadata"]["reported"] == {"a": {"y": {"timestamp": 2000}}, "b": {"timestamp": 2000}}


def test_versions_are_remembered_48_hours_after_a_delete_per_shadow() -> None:
    clock = Clock(0)
    documents = ShadowDocuments(clock)
    for _ in range(3):
        update(documents, {"state": {"reported": {"a": 1}}})
    update(documents, {"state": {"reported": {"a": 1}}}, name=None)  # the classic shadow is another shadow
    assert documents.delete("thing", "s")["version"] == 3
    clock.now = 48 * 3600
    assert update(documents, {"state": {"reported": {"a": 1}}}) == 4
    documents.delete("thing", "s")
    clock.now += 48 * 3600 + 1
    assert update(documents, {"state": {"reported": {"a": 1}}}) == 1


def test_requests_that_are_not_what_aws_takes() -> None:
    documents = ShadowDocuments(Clock())
    assert refused(documents, b"NaN") == (400, "Invalid JSON")
    assert refused(documents, {"state": {"reported": {"a": 1}}, "clientToken": 7}) == (400, "Invalid clientToken")
    assert refused(documents, {"state": {"reported": {"a": 1}}, "version": True}) == (400, "Invalid version")
    assert refused(documents, {"state": {"reported": {"a": 1}}, "version": -1}) == (400, "Invalid version")
    assert refused(documents, {"state": {"reported": {"a": 1}}, "version": 1})[0] == 409  # no such shadow yet
    with pytest.raises(ShadowRequestError):
        documents.update("thing/x", "s", b'{"state": {}}')
    with pytest.raises(ShadowRequestError):
        documents.update("thing", "n" * 65, b'{"state": {}}')
    with pytest.raises(ShadowRequestError) as caught:
        documents.get("thing", "s", b'{"clientToken": "' + b"t" * 65 + b'"}')
    assert caught.value.message == "Invalid clientToken"


def test_named_shadows_are_listed_in_pages() -> None:
    documents = ShadowDocuments(Clock())
    for name in ("b", "a", "c"):
        update(documents, {"state": {}}, name=name)
    update(documents, {"state": {}}, name=None)
    first = documents.list_named("thing", page_size=2)
    assert first["results"] == ["a", "b"]
    assert documents.list_named("thing", first["nextToken"], 2)["results"] == ["c"]
    for token, size in (("x", 2), ("9", 2), (None, 0), (None, 101)):
        with pytest.raises(ShadowRequestError):
            documents.list_named("thing", token, size)
