"""The twin's Device Shadow service against AWS's documentation, driven by the unmodified AWS IoT Device SDK v2
(``awsiot.iotshadow.IotShadowClient``) over MQTT, and by boto3 ``iot-data`` over the REST API.

Every expectation comes from the AWS IoT Developer Guide (quoted in each test's comment), not from the twin:
"Device Shadow service documents" (DOCS), "Interacting with shadows" (FLOW), "Device Shadow MQTT topics" (TOPICS),
"Device Shadow REST API" (REST), "Device Shadow error messages" (ERRORS), "Diagnosing problems with shadows"
(DIAGNOSING) and "AWS IoT Core endpoints and quotas" (QUOTAS). Most tests run on a classic and a named shadow
("The topics used by each differ only in the topic prefix" -- TOPICS).
"""

from __future__ import annotations

import datetime
import json

import pytest
from awscrt import mqtt_request_response
from awsiot import V2ServiceException, iotshadow
from botocore.exceptions import ClientError

from chalicelib.adapters.shadows import ShadowConflict, ShadowTooLarge
from tests.integration.infra.shadow_twin import SdkShadow, ShadowTwin, connect_device, shadow_twin  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration

THING = "ct--demo--dev--s1"


@pytest.fixture(params=[None, "pc-01"], ids=["classic", "named"])
def shadow(request: pytest.FixtureRequest, shadow_twin: ShadowTwin) -> SdkShadow:  # noqa: F811
    return shadow_twin.device(THING, request.param)


def at(twin: ShadowTwin) -> datetime.datetime:
    """The twin's current time as the SDK parses a ``timestamp``."""
    return datetime.datetime.fromtimestamp(int(twin.clock.now))


def desired(**values: object) -> iotshadow.ShadowState:
    return iotshadow.ShadowState(desired=values)


def reported(**values: object) -> iotshadow.ShadowState:
    return iotshadow.ShadowState(reported=values)


def error(reply: iotshadow.ErrorResponse) -> tuple[int, str]:
    return reply.code, reply.message


# ---------------------------------------------------------------- update


def test_update_is_accepted_with_the_request_state_its_metadata_the_version_and_the_token(
    shadow: SdkShadow, shadow_twin: ShadowTwin  # noqa: F811
) -> None:
    # DOCS /accepted response state document: state and metadata ("timestamps for each attribute"), "timestamp",
    # "clientToken" ("Present only if a client token was used"), "version" ("increased by one over the previous").
    shadow.update(desired(color="red", lights={"on": True}), token="t-1")
    body = shadow.accepted("update")
    assert body.state.desired == {"color": "red", "lights": {"on": True}}
    ts = int(shadow_twin.clock.now)
    assert body.metadata.desired == {"color": {"timestamp": ts}, "lights": {"on": {"timestamp": ts}}}
    assert (body.version, body.client_token, body.timestamp) == (1, "t-1", at(shadow_twin))
    shadow.update(reported(color="red"))
    body = shadow.accepted("update")
    assert body.version == 2 and body.client_token is None  # no token sent, none echoed


def test_update_documents_carry_previous_and_current(shadow: SdkShadow, shadow_twin: ShadowTwin) -> None:  # noqa: F811
    # TOPICS /update/documents: "AWS IoT publishes a state document to this topic whenever an update to the shadow
    # is successfully performed"; DOCS: "previous -- ... the state of the object before the update", "current --
    # ... after the update", each with state, metadata and version.
    shadow.update(reported(a=1), token="t-1")
    shadow.next("update/documents")
    shadow_twin.clock.now += 5
    shadow.update(reported(b=2), token="t-2")
    event = shadow.next("update/documents").body
    assert event.previous.state.reported == {"a": 1} and event.previous.version == 1
    assert event.current.state.reported == {"a": 1, "b": 2} and event.current.version == 2
    assert event.current.metadata.reported == {"a": {"timestamp": 1_700_000_000}, "b": {"timestamp": 1_700_000_005}}
    assert event.timestamp == at(shadow_twin)


def test_delta_holds_only_the_differing_desired_attributes(shadow: SdkShadow) -> None:
    # TOPICS /update/delta: "includes only the desired attributes that differ between the desired and reported
    # sections ... regardless of whether these attributes were contained in the current update message"; "If an
    # attribute is in the reported section but has no equivalent in the desired section, it is not included";
    # DOCS Delta state: "When nested objects differ, the delta contains the path all the way to the root";
    # "Arrays are treated like values ... the entire desired array is copied into the delta".
    shadow.update(reported(color="GREEN", engine="ON", lights={"r": 255, "g": 0}, seq=[1, 2]))
    shadow.accepted("update")
    shadow.update(desired(color="RED", lights={"r": 255, "g": 255}, seq=[1, 3]), token="d-1")
    event = shadow.next("update/delta").body
    assert event.state == {"color": "RED", "lights": {"g": 255}, "seq": [1, 3]}
    assert event.version == 2 and event.client_token == "d-1"
    # DOCS: "The delta contains metadata, and its values are equal to the metadata in the desired field"
    assert set(event.metadata) == {"color", "lights", "seq"} and set(event.metadata["lights"]) == {"g"}


def test_a_reported_attribute_deleted_while_still_desired_is_in_the_delta(shadow: SdkShadow) -> None:
    # TOPICS: "If an attribute is deleted from the reported section but still exists in the desired section, it
    # is included." (FLOW: a device "updates its state to the desired state" and reports; the delta is on get)
    shadow.update(desired(mode="eco"))
    shadow.accepted("update")
    shadow.update(reported(mode="eco"))
    shadow.accepted("update")
    shadow.update(iotshadow.ShadowState(reported={"mode": None}))
    shadow.accepted("update")
    shadow.get()
    assert shadow.accepted("get").state.delta == {"mode": "eco"}


def test_a_reported_only_update_announces_no_delta(shadow: SdkShadow) -> None:
    # FLOW: a device reporting its state gets update/accepted; update/delta follows a desired change ("AWS IoT
    # updates the desired state in the shadow and publishes messages on ... /update/accepted, /update/delta").
    shadow.update(desired(volume=40))
    shadow.next("update/delta")
    shadow.update(reported(volume=30))
    shadow.accepted("update")
    shadow.get()
    assert shadow.accepted("get").state.delta == {"volume": 40}
    assert [r.kind for r in shadow.pending() if r.kind == "update/delta"] == []


def test_each_attribute_keeps_its_own_timestamp(shadow: SdkShadow, shadow_twin: ShadowTwin) -> None:  # noqa: F811
    # DOCS metadata: "timestamps, in Epoch time, for each attribute in the state section, which enables you to
    # determine when they were updated".
    shadow.update(reported(a=1, nested={"x": 1}))
    shadow.accepted("update")
    shadow_twin.clock.now += 60
    shadow.update(reported(b=2, nested={"y": 2}))
    shadow.accepted("update")
    shadow.get()
    body = shadow.accepted("get")
    t0, t1 = 1_700_000_000, 1_700_000_060
    assert body.metadata.reported == {
        "a": {"timestamp": t0}, "b": {"timestamp": t1}, "nested": {"x": {"timestamp": t0}, "y": {"timestamp": t1}},
    }  # fmt: skip


def test_null_removes_an_attribute_and_its_metadata(shadow: SdkShadow) -> None:
    # FLOW Deleting shadow data: "set the value of the properties that you want to delete to null. Fields with a
    # value of null are removed from the shadow document."
    shadow.update(desired(engine="ON", color="RED"))
    shadow.accepted("update")
    shadow.update(desired(engine=None))
    accepted = shadow.accepted("update")
    assert accepted.state.desired == {"engine": None}  # the request's state, as sent
    shadow.get()
    body = shadow.accepted("get")
    assert body.state.desired == {"color": "RED"} and set(body.metadata.desired) == {"color"}


def test_a_null_section_is_removed_and_the_shadow_stays(shadow: SdkShadow) -> None:
    # DOCS Empty shadow document properties: "If an update causes the desired or reported properties to become
    # null, it is removed from the document"; "A shadow document can also have neither desired or reported
    # properties"; FLOW: "Setting the device's shadow state to null does not delete the shadow. The shadow version
    # will be incremented on the next update."
    shadow.update(iotshadow.ShadowState(desired={"color": "red"}, reported={"color": "red"}))
    shadow.accepted("update")
    shadow.update(iotshadow.ShadowState(reported={"color": "red"}, desired=None, desired_is_nullable=True))
    shadow.accepted("update")
    shadow.get()
    body = shadow.accepted("get")
    assert body.state.desired is None and body.state.reported == {"color": "red"} and body.version == 2
    shadow.update(iotshadow.ShadowState(reported=None, reported_is_nullable=True))
    assert shadow.accepted("update").version == 3
    shadow.get()
    body = shadow.accepted("get")
    assert (body.state.desired, body.state.reported, body.version) == (None, None, 3)


def test_arrays_are_replaced_whole_and_cannot_hold_null(shadow: SdkShadow) -> None:
    # DOCS Array values: "an update to an array replaces the whole array. It is not possible to update part of an
    # array"; "Arrays can't have null values ... will be rejected."
    shadow.update(desired(colors=["RED", "GREEN", "BLUE"]))
    shadow.accepted("update")
    shadow.update(desired(colors=["RED"]))
    shadow.accepted("update")
    shadow.update(desired(colors=[None, "RED", "GREEN"]))
    assert shadow.rejected("update").code == 400
    shadow.get()
    assert shadow.accepted("get").state.desired == {"colors": ["RED"]}


# ---------------------------------------------------------------- get


def test_get_returns_the_whole_document_with_delta_at_the_time_of_the_answer(
    shadow: SdkShadow, shadow_twin: ShadowTwin  # noqa: F811
) -> None:
    # FLOW GET: "Retrieves a current shadow document that contains the complete state of the shadow, including
    # metadata"; "including any delta between the desired and reported states"; DOCS timestamp: "The Epoch date
    # and time the response was generated by AWS IoT".
    shadow.update(iotshadow.ShadowState(desired={"a": 1, "b": 2}, reported={"a": 1}))
    shadow.accepted("update")
    shadow_twin.clock.now += 30
    shadow.get(token="g-1")
    body = shadow.accepted("get")
    assert body.state.desired == {"a": 1, "b": 2} and body.state.reported == {"a": 1}
    assert body.state.delta == {"b": 2}
    assert body.metadata.desired == {"a": {"timestamp": 1_700_000_000}, "b": {"timestamp": 1_700_000_000}}
    assert (body.version, body.client_token, body.timestamp) == (1, "g-1", at(shadow_twin))


def test_get_of_a_shadow_that_does_not_exist_is_rejected_404(shadow: SdkShadow, shadow_twin: ShadowTwin) -> None:  # noqa: F811
    # ERRORS 404: "No shadow exists with name: shadowName"; DOCS Error response document: code, message,
    # timestamp, "clientToken -- Present only if a client token was used in the published message".
    shadow.get(token="g-404")
    body = shadow.rejected("get")
    assert body.code == 404 and body.message.startswith("No shadow exists with name:")
    assert (shadow.name or THING) in body.message
    assert (body.client_token, body.timestamp) == ("g-404", at(shadow_twin))


# ---------------------------------------------------------------- versions


def test_an_update_with_the_current_version_is_accepted_a_stale_one_409(shadow: SdkShadow) -> None:
    # FLOW Optimistic locking: "When you supply a version with an update request, the service rejects the request
    # with an HTTP 409 conflict response code if the current version of the state document does not match"; the
    # example's result: {"code": 409, "message": "Version conflict", "clientToken": ...}; a matching version is
    # accepted and the final version is one more.
    shadow.update(desired(colors=["RED", "GREEN", "BLUE"]))
    shadow.accepted("update")
    shadow.update(desired(colors=["BLUE"]), version=0, token="v-0")
    assert error(shadow.rejected("update")) == (409, "Version conflict")
    shadow.update(desired(colors=["BLUE"]), version=1, token="v-1")
    assert shadow.accepted("update").version == 2
    shadow.get()
    assert shadow.accepted("get").state.desired == {"colors": ["BLUE"]}


# ---------------------------------------------------------------- delete


def test_delete_answers_version_and_timestamp_and_the_shadow_is_gone(
    shadow: SdkShadow, shadow_twin: ShadowTwin  # noqa: F811
) -> None:
    # FLOW Deleting a shadow: "AWS IoT deletes the shadow and publishes a messages with the .../delete/accepted
    # topic and an abbreviated /accepted response state document ... {"version": 4, "timestamp": 1591057529}";
    # "You can't restore a deleted shadow"; TOPICS /delete/rejected: "an error response document ... when it
    # can't delete the device's shadow".
    for _ in range(3):
        shadow.update(reported(a=1))
        shadow.accepted("update")
    shadow_twin.clock.now += 10
    shadow.delete(token="del-1")
    body = shadow.accepted("delete")
    assert (body.version, body.timestamp, body.client_token) == (3, at(shadow_twin), "del-1")
    shadow.get()
    assert shadow.rejected("get").code == 404
    shadow.delete(token="del-2")
    body = shadow.rejected("delete")
    assert body.code == 404 and body.message.startswith("No shadow exists with name:")
    assert body.client_token == "del-2"


def test_a_shadow_created_again_continues_its_version(shadow: SdkShadow, shadow_twin: ShadowTwin) -> None:  # noqa: F811
    # TOPICS /delete: "Note that deleting a shadow does not reset its version number to 0"; FLOW DELETE: "If you
    # create a device shadow document that has the same name as one that was deleted within the past 48 hours,
    # the version number of the new device shadow document will follow that of the deleted one."
    for _ in range(4):
        shadow.update(reported(a=1))
        shadow.accepted("update")
    shadow.delete()
    assert shadow.accepted("delete").version == 4
    shadow.update(reported(b=2))
    assert shadow.accepted("update").version == 5
    shadow.get()
    body = shadow.accepted("get")
    assert body.state.reported == {"b": 2} and body.version == 5  # nothing of the deleted document is restored


def test_a_shadow_deleted_more_than_48_hours_ago_starts_over(shadow: SdkShadow, shadow_twin: ShadowTwin) -> None:  # noqa: F811
    # FLOW DELETE: "If a device shadow document has been deleted for more than 48 hours, the version number of a
    # new device shadow document with the same name will be 0" -- it starts over as a shadow never used.
    for _ in range(3):
        shadow.update(reported(a=1))
        shadow.accepted("update")
    shadow.delete()
    shadow.accepted("delete")
    shadow_twin.clock.now += 48 * 3600 + 1
    shadow.update(reported(a=1))
    first = shadow.accepted("update").version
    fresh = shadow_twin.device(THING, "never-used")
    fresh.update(reported(a=1))
    assert first == fresh.accepted("update").version


def test_delete_ignores_the_content_of_the_message(shadow: SdkShadow) -> None:
    # TOPICS /delete: "publish an empty message to the delete topic ... The content of the message is ignored."
    shadow.update(reported(a=1))
    shadow.accepted("update")
    shadow.publish_raw("delete", b"{not json")
    assert shadow.accepted("delete").version == 1


# ---------------------------------------------------------------- errors and limits


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"{not json", "Invalid JSON"),
        (b'{"clientToken": "e-1"}', "Missing required node: state"),
        (b'{"state": "on", "clientToken": "e-1"}', "State node must be an object"),
        (b'{"state": {"desired": [1]}, "clientToken": "e-1"}', "Desired node must be an object"),
        (b'{"state": {"reported": "x"}, "clientToken": "e-1"}', "Reported node must be an object"),
        (b'{"state": {"reported": {"a": 1}}, "version": "7", "clientToken": "e-1"}', "Invalid version"),
        (b'{"state": {"delta": {"a": 1}}, "clientToken": "e-1"}', "State contains an invalid node"),
    ],
)
def test_malformed_updates_are_rejected_400_with_the_documented_message(
    shadow: SdkShadow, payload: bytes, message: str
) -> None:
    # ERRORS 400 (Bad Request): "Invalid JSON", "Missing required node: state", "State node must be an object",
    # "Desired node must be an object", "Reported node must be an object", "Invalid version", "State contains an
    # invalid node"; nothing is stored (FLOW: "If the update request is not valid, AWS IoT publishes ...
    # /update/rejected").
    shadow.publish_raw("update", payload)
    body = shadow.rejected("update")
    assert error(body) == (400, message)
    if b"e-1" in payload:
        assert body.client_token == "e-1"
    shadow.get()
    assert shadow.rejected("get").code == 404


def test_a_client_token_over_64_bytes_is_rejected_400(shadow: SdkShadow) -> None:
    # DOCS Client tokens: "The client token can be no longer than 64 bytes. A client token that is longer than 64
    # bytes causes a 400 (Bad Request) response and an Invalid clientToken error message."
    shadow.update(reported(a=1), token="x" * 64)
    assert shadow.accepted("update").client_token == "x" * 64
    shadow.update(reported(a=2), token="é" * 33)  # 33 characters, 66 bytes
    assert error(shadow.rejected("update")) == (400, "Invalid clientToken")
    shadow.get()
    assert shadow.accepted("get").state.reported == {"a": 1}


def test_more_than_6_levels_of_nesting_are_rejected_400(shadow: SdkShadow) -> None:
    # ERRORS 400: "JSON contains too many levels of nesting; maximum is 6"; QUOTAS: the maximum number of levels
    # in the desired or reported section of the JSON device state document is 6.
    six: dict[str, object] = {"6": 1}
    for level in "54321":
        six = {level: six}
    shadow.update(desired(**six))
    shadow.accepted("update")
    seven: dict[str, object] = {"7": 1}
    for level in "654321":
        seven = {level: seven}
    shadow.update(reported(**seven))
    assert error(shadow.rejected("update")) == (400, "JSON contains too many levels of nesting; maximum is 6")


def test_the_8_kb_limit_is_on_the_resulting_state_not_the_request(shadow: SdkShadow) -> None:
    # QUOTAS: maximum size of a JSON state document 8 KB, "metadata do not contribute to the document size";
    # DIAGNOSING: "Only the data for desired and reported state inside the state document sent to the device's
    # shadow counts toward the limit"; ERRORS 413: "The payload exceeds the maximum size allowed".
    shadow.update(reported(a="x" * 5000))
    shadow.accepted("update")
    shadow.update(reported(b="y" * 5000))  # 5 KB more under another key: the shadow would hold 10 KB
    assert error(shadow.rejected("update")) == (413, "The payload exceeds the maximum size allowed")
    shadow.update(reported(a=None, b="y" * 5000))  # the same bytes, replacing: 5 KB of state
    assert shadow.accepted("update").version == 2
    # a request over 8 KB (its token, whitespace and nulls count for nothing) whose state stays under 8 KB
    padded = {"state": {"reported": {"b": None, "c": "z" * 8000}}, "clientToken": "t" * 64}
    payload = json.dumps(padded, indent=40).encode()
    assert len(payload) > 8 * 1024
    shadow.publish_raw("update", payload)
    assert shadow.accepted("update").version == 3
    shadow.get()
    assert set(shadow.accepted("get").state.reported) == {"c"}


def test_a_payload_that_is_not_utf8_is_rejected_415(shadow: SdkShadow) -> None:
    # ERRORS 415 (Unsupported Media Type): "Unsupported documented encoding; supported encoding is UTF-8".
    shadow.publish_raw("update", b'{"state": {"reported": {"a": "\xff"}}}')
    assert error(shadow.rejected("update")) == (415, "Unsupported documented encoding; supported encoding is UTF-8")


def test_a_failure_of_the_service_is_a_500_and_the_service_goes_on(
    shadow: SdkShadow, shadow_twin: ShadowTwin, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    # ERRORS 500 (Internal Server Error): "Internal service failure".
    def broken(*_args: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(shadow_twin.documents, "get", broken)
    shadow.get(token="g-500")
    body = shadow.rejected("get")
    assert (body.code, body.message, body.client_token) == (500, "Internal service failure", "g-500")
    monkeypatch.undo()
    shadow.update(reported(a=1))
    assert shadow.accepted("update").version == 1


# ---------------------------------------------------------------- the REST API (the cloud's side)


def test_rest_update_answers_the_accepted_document_and_devices_hear_it(shadow_twin: ShadowTwin) -> None:  # noqa: F811
    # FLOW: "The client calls the UpdateThingShadow API ... AWS IoT returns an HTTP success response code and an
    # /accepted response state document ... AWS IoT will also publish an MQTT message to the .../update/delta
    # topic"; TOPICS /update/documents: "whenever an update to the shadow is successfully performed".
    device = shadow_twin.device(THING, "pc-01")
    answer = shadow_twin.cloud.update(THING, "pc-01", json.dumps(
        {"state": {"desired": {"volume": "40"}}, "clientToken": "c-1"}).encode())  # fmt: skip
    assert answer["state"] == {"desired": {"volume": "40"}} and answer["version"] == 1
    assert answer["clientToken"] == "c-1"
    assert answer["metadata"] == {"desired": {"volume": {"timestamp": 1_700_000_000}}}
    assert device.next("update/accepted").body.client_token == "c-1"
    assert device.next("update/documents").body.current.version == 1
    delta = device.next("update/delta").body
    assert (delta.state, delta.version) == ({"volume": "40"}, 1)
    document = shadow_twin.cloud.get(THING, "pc-01")
    assert document is not None and document["state"]["delta"] == {"volume": "40"}


def test_rest_errors_are_awss_and_emit_no_mqtt_message(shadow_twin: ShadowTwin) -> None:  # noqa: F811
    # ERRORS: "If the client updates the document using the REST API, then it receives the HTTP error code as part
    # of its response, and no MQTT error messages are emitted." (boto3's iot-data error codes: InvalidRequest 400,
    # ResourceNotFound 404, Conflict 409, RequestEntityTooLarge 413)
    device = shadow_twin.device(THING, "pc-01")
    data = shadow_twin.data

    def code(call: object, **kwargs: object) -> tuple[int, str]:
        with pytest.raises(ClientError) as caught:
            call(thingName=THING, shadowName="pc-01", **kwargs)  # type: ignore[operator]
        response = caught.value.response
        return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]

    assert code(data.get_thing_shadow) == (404, "ResourceNotFoundException")
    assert code(data.delete_thing_shadow) == (404, "ResourceNotFoundException")
    assert code(data.update_thing_shadow, payload=b"{nope") == (400, "InvalidRequestException")
    data.update_thing_shadow(thingName=THING, shadowName="pc-01", payload=b'{"state": {"desired": {"a": "1"}}}')
    assert code(data.update_thing_shadow, payload=b'{"state": {"desired": {"a": "2"}}, "version": 9}') == (
        409, "ConflictException")  # fmt: skip
    big = json.dumps({"state": {"desired": {"b": "x" * 9000}}}).encode()
    assert code(data.update_thing_shadow, payload=big) == (413, "RequestEntityTooLargeException")
    device.next("update/accepted")  # the one accepted update, then nothing for the refused ones
    device.next("update/documents")
    device.next("update/delta")
    device.get()
    device.accepted("get")
    assert [r.kind for r in device.pending() if r.kind.endswith("rejected")] == []


def test_rest_delete_is_announced_and_the_cloud_adapter_sees_the_shadow_gone(shadow_twin: ShadowTwin) -> None:  # noqa: F811
    # REST DeleteThingShadow: "HTTP DELETE .../things/thingName/shadow?name=shadowName"; TOPICS /delete/accepted:
    # "AWS IoT publishes a message to this topic when a device's shadow is deleted".
    device = shadow_twin.device(THING, "pc-01")
    shadow_twin.cloud.update(THING, "pc-01", b'{"state": {"reported": {"a": "1"}}}')
    assert shadow_twin.cloud.delete(THING, "pc-01") is True
    assert device.next("delete/accepted").body.version == 1
    assert shadow_twin.cloud.get(THING, "pc-01") is None
    assert shadow_twin.cloud.delete(THING, "pc-01") is False


def test_list_named_shadows_pages_the_named_ones_only(shadow_twin: ShadowTwin) -> None:  # noqa: F811
    # REST ListNamedShadowsForThing: "The unnamed (classic) shadow does not appear in this list. The response is an
    # empty list if you only have a classic shadow or if the thingName you specify doesn't exist."; DOCS Shadow name
    # list response document: "nextToken -- ... not present when there are no more shadow names to return".
    data = shadow_twin.data
    data.update_thing_shadow(thingName=THING, payload=b'{"state": {"reported": {"a": 1}}}')
    assert data.list_named_shadows_for_thing(thingName=THING)["results"] == []
    for name in ("c", "a", "b"):
        data.update_thing_shadow(thingName=THING, shadowName=name, payload=b'{"state": {"reported": {"a": 1}}}')
    first = data.list_named_shadows_for_thing(thingName=THING, pageSize=2)
    rest = data.list_named_shadows_for_thing(thingName=THING, pageSize=2, nextToken=first["nextToken"])
    assert sorted(first["results"] + rest["results"]) == ["a", "b", "c"] and "nextToken" not in rest
    assert data.list_named_shadows_for_thing(thingName="no-such-thing")["results"] == []


def test_the_cloud_adapter_translates_awss_refusals(shadow_twin: ShadowTwin) -> None:  # noqa: F811
    # ERRORS 409 "Version conflict" and 413 "The payload exceeds the maximum size allowed", as boto3 raises them
    # (ConflictException, RequestEntityTooLargeException): the cloud's adapter turns them into its own errors.
    store = shadow_twin.cloud
    store.update(THING, "pc-01", json.dumps({"state": {"reported": {"a": "x" * 5000}}}).encode())
    with pytest.raises(ShadowConflict):
        store.update(THING, "pc-01", b'{"state": {"desired": {"b": "1"}}, "version": 7}')
    with pytest.raises(ShadowTooLarge) as refused:
        store.update(THING, "pc-01", json.dumps({"state": {"desired": {"b": "y" * 5000}}}).encode())
    assert refused.value.status == 413
    document = store.get(THING, "pc-01")
    assert document is not None and document["version"] == 1 and "desired" not in document["state"]


def test_hostile_requests_are_refused_and_the_service_goes_on(shadow: SdkShadow, shadow_twin: ShadowTwin) -> None:  # noqa: F811
    # ERRORS 400 "JSON contains too many levels of nesting" and 413 "The payload exceeds the maximum size allowed"
    # (QUOTAS: a message is at most 128 KB -- on MQTT the stand-in broker's max_packet_size drops the connection
    # first, as IoT Core does); whatever a device or the cloud sends, the service answers and keeps serving
    # (docs/security.md#the-twins-device-shadow-service-item-20-shadows).
    shadow.publish_raw("update", b'{"state": {"reported": ' + b'{"a":' * 5_000 + b"1" + b"}" * 5_002)
    assert shadow.rejected("update").code == 400
    with pytest.raises(ClientError) as caught:
        shadow_twin.data.update_thing_shadow(thingName=THING, payload=b'{"state": {"desired": {"a": "'
                                             + b"x" * (129 * 1024) + b'"}}}')  # fmt: skip
    assert caught.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
    shadow.update(reported(a=1))
    assert shadow.accepted("update").version == 1


def test_more_than_20_requests_a_second_to_one_thing_are_throttled_429(shadow_twin: ShadowTwin) -> None:  # noqa: F811
    # QUOTAS (device shadow limits): "The Thing Shadows service supports up to 20 requests per second per thing.
    # Note that this limit is per thing and not per API."; ERRORS 429 (Too Many Requests). The twin's clock is
    # held still: every request below is in the same second.
    one, other = shadow_twin.device(THING, "pc-01"), shadow_twin.device(THING, "pc-02")
    for i in range(10):
        one.update(reported(n=i))
        one.accepted("update")
        other.get()
        other.answer("get")  # 404: a request all the same
    one.get(token="g-21")
    body = one.rejected("get")
    assert (body.code, body.client_token) == (429, "g-21")
    elsewhere = shadow_twin.device("another-thing", "pc-01")
    elsewhere.update(reported(n=1))
    assert elsewhere.accepted("update").version == 1  # another thing is not throttled
    with pytest.raises(ClientError) as caught:
        shadow_twin.data.get_thing_shadow(thingName=THING, shadowName="pc-01")
    assert caught.value.response["Error"]["Code"] == "ThrottlingException"
    shadow_twin.clock.now += 1
    one.get()
    assert one.accepted("get").version == 10


def test_the_request_response_client_v2_correlates_every_answer_by_its_token(shadow_twin: ShadowTwin) -> None:  # noqa: F811
    # DOCS: "clientToken -- If used, you can match the request and corresponding response by the client token";
    # the SDK's IotShadowClientV2 matches every accepted/rejected answer (delete's included) by it.
    connection = connect_device(shadow_twin.broker, "device-v2")
    shadow_twin.connections.append(connection)
    options = mqtt_request_response.ClientOptions(max_request_response_subscriptions=4, max_streaming_subscriptions=2,
                                                  operation_timeout_in_seconds=10)  # fmt: skip
    client = iotshadow.IotShadowClientV2(connection, options)
    named = {"thing_name": THING, "shadow_name": "pc-01"}
    updated = client.update_named_shadow(iotshadow.UpdateNamedShadowRequest(
        state=iotshadow.ShadowState(reported={"a": 1}), **named)).result(10)  # fmt: skip
    assert updated.version == 1 and updated.state.reported == {"a": 1}
    assert client.get_named_shadow(iotshadow.GetNamedShadowRequest(**named)).result(10).state.reported == {"a": 1}
    assert client.delete_named_shadow(iotshadow.DeleteNamedShadowRequest(**named)).result(10).version == 1
    with pytest.raises(V2ServiceException) as caught:
        client.get_named_shadow(iotshadow.GetNamedShadowRequest(**named)).result(10)
    assert caught.value.modeled_error.code == 404
