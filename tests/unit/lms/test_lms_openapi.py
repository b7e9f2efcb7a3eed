"""The LMS's OpenAPI document says what the LMS does: the failures schemathesis found (issue 17), one test each.

In-process (the LMS's ASGI app over a real SQLite store, no broker): the answers are the ones the fuzz run got from
a real LMS; each test asserts the answer and what the document says of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from edge.lms.api import create_app
from edge.lms.api.enrolment import TokenRequest
from edge.lms.auth.password_hash import MIN_PASSWORD_LENGTH
from edge.lms.store import Store
from shared.cctv import CameraRef
from tests.fixtures.lms_services import offline_services


class Lms:
    def __init__(self, client: TestClient, token: str) -> None:
        self.client = client
        self.auth = {"Authorization": f"Bearer {token}"}
        self.doc: dict[str, Any] = client.get("/openapi.json").json()

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.client.request(method, path, headers=self.auth, **kwargs)

    def responses(self, method: str, path: str) -> dict[str, Any]:
        operation: dict[str, Any] = self.doc["paths"][path][method]
        return dict(operation["responses"])

    def schema(self, name: str) -> dict[str, Any]:
        schema: dict[str, Any] = self.doc["components"]["schemas"][name]
        return schema


@pytest.fixture
def lms(tmp_path: Path) -> Iterator[Lms]:
    store = Store(tmp_path / "lms.db").open()
    services = offline_services(store, tmp_path)
    _, token = services.tokens.create("fuzz admin", "admin")
    with TestClient(create_app(services)) as client:
        yield Lms(client, token)
    store.close()


def _error_ref(response: dict[str, Any]) -> str:
    ref: str = response["content"]["application/json"]["schema"]["$ref"]
    return ref


# ------------------------------------------------------------------ ST108: a 422 body against its own schema


def test_a_422_is_documented_as_the_lms_error_body_it_is(lms: Lms) -> None:
    r = lms.call("GET", "/api/commands/queue", params={"state": "AAA"})
    assert r.status_code == 422
    body = r.json()
    assert body["success"] is False and body["error_code"] == "bad_payload"
    assert isinstance(body["detail"], str)  # FastAPI's HTTPValidationError says an array: never sent
    assert _error_ref(lms.responses("get", "/api/commands/queue")["422"]).endswith("/ErrorBody")
    assert "HTTPValidationError" not in str(lms.doc)
    error = lms.schema("ErrorBody")
    assert error["properties"]["detail"]["type"] == "string"
    assert set(error["required"]) == {"success", "error", "error_code", "detail"}


# ------------------------------------------------------------------ ST103: statuses the document did not list


def test_every_operation_lists_the_errors_its_shape_can_give(lms: Lms) -> None:
    for path, item in lms.doc["paths"].items():
        for method, operation in item.items():
            statuses = set(operation["responses"])
            if operation.get("security"):
                assert {"401", "403"} <= statuses, (method, path)
            if operation.get("parameters") or operation.get("requestBody"):
                assert "422" in statuses, (method, path)
            if operation.get("requestBody"):
                assert {"400", "413"} <= statuses, (method, path)
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    assert _error_ref(response).endswith("/ErrorBody"), (method, path, status)


@pytest.mark.parametrize(("method", "path", "status", "documented"), [
    ("GET", "/api/clients/nobody", 404, "/api/clients/{uuid}"),
    ("GET", "/api/clients/nobody/tags", 404, "/api/clients/{uuid}/tags"),
    ("GET", "/api/clients/nobody/processes", 404, "/api/clients/{uuid}/processes"),
    ("DELETE", "/api/commands/queue/5", 404, "/api/commands/queue/{item_id}"),
    ("DELETE", "/api/tokens/999", 404, "/api/tokens/{token_id}"),
    ("GET", "/api/cloud/dead-letters", 501, "/api/cloud/dead-letters"),  # no [cloud]: no outbox
    ("GET", "/api/site-tls", 409, "/api/site-tls"),  # plain HTTP: no certificates watched
    ("POST", "/api/broker-credentials/rotate", 409, "/api/broker-credentials/rotate"),  # no dynsec
    ("GET", "/api/enrolment-tokens", 501, "/api/enrolment-tokens"),  # enrolment off
    ("GET", "/api/settings/nobody", 404, "/api/settings/{uuid}"),
    ("GET", "/api/cctv/nobody/state", 404, "/api/cctv/{uuid}/state"),
    # the alerts, accounts and recordings routes (their fuzz run's first findings)
    ("DELETE", "/api/alerts/maintenance/1", 404, "/api/alerts/maintenance/{window_id}"),
    ("DELETE", "/api/alerts/rules/0", 404, "/api/alerts/rules/{rule_id}"),
    ("DELETE", "/api/alerts/silences/1", 404, "/api/alerts/silences/{silence_id}"),
    ("GET", "/api/alerts/00000000000000000000000000000000", 404, "/api/alerts/{alert_id}"),
    ("POST", "/api/alerts/00000000000000000000000000000000/acknowledge", 404, "/api/alerts/{alert_id}/acknowledge"),
    ("POST", "/api/alerts/webhook/deliveries/00000000000000000000000000000000/retry", 404,
     "/api/alerts/webhook/deliveries/{delivery_id}/retry"),
    ("POST", "/api/alerts/webhook/test", 409, "/api/alerts/webhook/test"),  # no webhook set
    ("GET", "/api/cctv/0/recordings", 404, "/api/cctv/{uuid}/recordings"),
    ("POST", "/api/accounts/142623/password-reset", 404, "/api/accounts/{account_id}/password-reset"),
    ("DELETE", "/api/accounts/6025267", 404, "/api/accounts/{account_id}"),
    ("PATCH", "/api/accounts/6025267", 404, "/api/accounts/{account_id}"),
])  # fmt: skip
def test_the_status_the_lms_answers_is_documented(
    lms: Lms, method: str, path: str, status: int, documented: str
) -> None:
    r = lms.call(method, path, json={} if method == "PATCH" else None)
    assert r.status_code == status, r.text
    assert str(status) in lms.responses(method.lower(), documented)
    assert r.json()["success"] is False and isinstance(r.json()["detail"], str)


def test_a_command_route_documents_queued_and_what_ends_a_command(lms: Lms) -> None:
    documented = set(lms.responses("post", "/api/clients/{uuid}/command"))
    assert {"200", "202", "404", "409", "413", "503", "504"} <= documented


# ------------------------------------------------------------------ ST203 / ST401: authentication as declared


def test_enrolment_says_401_to_a_caller_without_a_token_before_it_says_it_is_off(lms: Lms) -> None:
    for method in ("GET", "POST"):
        r = lms.client.request(method, "/api/enrolment-tokens", json={})
        assert r.status_code == 401 and r.json()["error_code"] == "unauthorized"
    assert lms.client.delete("/api/clients/pc-1/credentials").status_code == 401


def test_metrics_documents_its_token_as_optional(lms: Lms) -> None:
    assert lms.doc["paths"]["/metrics"]["get"]["security"] == [{"HTTPBearer": []}, {}]
    assert lms.call("GET", "/metrics").status_code == 200
    # without a token: 200 from loopback (the optional requirement), 401 from anywhere else (the test client's
    # address is "testclient"), and both are documented
    assert lms.client.get("/metrics").status_code == 401
    assert {"200", "401"} <= set(lms.responses("get", "/metrics"))


def test_video_paths_document_the_ticket_beside_the_token(lms: Lms) -> None:
    security = lms.doc["paths"]["/api/cctv/{uuid}/cameras/{camera_id}/live"]["get"]["security"]
    assert security == [{"HTTPBearer": []}, {"VideoTicket": []}]
    assert lms.doc["components"]["securitySchemes"]["VideoTicket"] == {
        "type": "apiKey", "in": "query", "name": "ticket",
        "description": "a ticket for this very path from POST /api/cctv/tickets (for <img src>)",
    }  # fmt: skip


# ------------------------------------------------------------------ ST202: schema-valid requests the LMS refused


def test_path_ids_are_documented_with_the_pattern_the_lms_checks(lms: Lms) -> None:
    # the routes check them in their own words (unchanged): the document says the pattern they check
    r = lms.call("POST", "/api/clients/%F1%B9%B6%A3/retire", json={})
    assert r.status_code == 422 and r.json()["error_code"] == "bad_payload"
    assert lms.call("GET", "/api/clients/%F1%B9%B6%A3").status_code == 404
    r = lms.call("GET", "/api/settings/pc-1/x%C3%99")
    assert r.status_code == 422 and r.json()["error_code"] == "invalid_params"
    params = {p["name"]: p for p in lms.doc["paths"]["/api/settings/{uuid}/{key}"]["get"]["parameters"]}
    assert params["uuid"]["schema"]["pattern"] == "^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
    assert params["key"]["schema"]["pattern"] == "^[A-Za-z0-9_.-]{1,128}$"
    group = lms.doc["paths"]["/api/groups/{name}"]["put"]["parameters"][0]
    assert group["schema"]["pattern"] == "^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
    assert lms.call("PUT", "/api/groups/%11Z", json={"agents": []}).status_code == 422


def test_a_camera_body_is_documented_as_the_camera_the_agent_takes(lms: Lms) -> None:
    r = lms.call("POST", "/api/cctv/pc-1/cameras", json={})
    assert r.status_code == 422 and "camera_id" in r.json()["error"] and "source" in r.json()["error"]
    camera = lms.schema("CameraConfig")
    assert set(camera["required"]) == {"camera_id", "source"}
    assert camera["dependentRequired"] == {"height": ["width"], "width": ["height"]}
    assert camera["properties"]["width"]["multipleOf"] == 2
    r = lms.call("POST", "/api/cctv/pc-1/control", json={"action": "start_streaming", "camera_id": "c1", "x": 1})
    assert r.status_code == 422  # the agent takes only camera_id: the document says so, the LMS refuses the rest


def test_an_integral_number_is_a_camera_id_like_the_integer() -> None:
    assert CameraRef.model_validate({"camera_id": 123669.0}).camera_id == "123669"
    assert CameraRef.model_validate({"camera_id": 5}).camera_id == "5"
    with pytest.raises(ValueError):
        CameraRef.model_validate({"camera_id": 2.5})


def test_a_camera_source_is_documented_as_the_agent_checks_it(lms: Lms) -> None:
    (number, text) = lms.schema("CameraConfig")["properties"]["source"]["anyOf"]
    assert number == {"maximum": 63, "minimum": 0, "type": "integer"}
    assert "\\x1c-\\x1f" in text["pattern"]  # Python's \s has them, JSON Schema's does not: both say it now
    body = {"camera_id": "Z", "source": "rtsp://U\x1dk", "width": 640, "height": 480}
    r = lms.call("POST", "/api/cctv/pc-1/cameras", json=body)
    assert r.status_code == 422 and "source" in r.json()["error"]
    r = lms.call("POST", "/api/cctv/pc-1/cameras", json={**body, "source": "\u0663"})  # an Arabic-Indic 3
    assert r.status_code == 422


def test_a_batch_target_is_documented_as_exactly_one_key(lms: Lms) -> None:
    target = lms.schema("TargetBody")
    assert (target["minProperties"], target["maxProperties"]) == (1, 1)
    assert target["properties"]["all"] == {"const": True, "title": "All"}
    for bad in ({}, {"all": False}, {"ids": None}):
        r = lms.call("POST", "/api/commands/batch", json={"command": "ping", "target": bad})
        assert r.status_code == 422, bad


def test_each_command_is_documented_with_its_own_params(lms: Lms) -> None:
    variants = {v["properties"]["command"]["const"]: v for v in lms.schema("CommandRequest")["oneOf"]}
    assert "exec" in variants and "rotate_broker_password" not in variants  # the LMS's own: no caller sends it
    assert variants["exec"]["required"] == ["command", "params"]  # {} is not an exec
    assert variants["exec"]["properties"]["params"]["oneOf"] == [{"required": ["cmd"]}, {"required": ["argv"]}]
    assert variants["ping"]["required"] == ["command"]
    assert "upload_url" not in variants["cctv_snapshot"]["properties"]["params"]["properties"]  # the cloud's only
    settings = variants["update_settings_batch"]["properties"]["params"]["properties"]["settings"]
    assert settings["additionalProperties"] is False and "^[A-Za-z0-9_.-]{1,128}$" in settings["patternProperties"]
    assert variants["camera_start_preview"]["description"] == "ClassTop desktop clients only"
    r = lms.call("POST", "/api/clients/pc-1/command", json={"command": "update_settings_batch",
                                                            "params": {"settings": {"": "0"}}})  # fmt: skip
    assert r.status_code == 422 and r.json()["error_code"] == "invalid_params"


def test_a_command_no_agent_has_sent_to_an_unknown_agent_is_404(lms: Lms) -> None:
    r = lms.call("POST", "/api/clients/nobody/command", json={"command": "camera_start_preview"})
    assert r.status_code == 404 and r.json()["error_code"] == "unknown_agent"  # a ClassTop client's, maybe


def test_a_recording_of_another_camera_is_not_found(lms: Lms) -> None:
    r = lms.call("GET", "/api/cctv/pc-1/recordings/door/hall_20260101-120000-000.mp4/play")
    assert r.status_code == 404 and r.json()["error_code"] == "not_found"
    r = lms.call("GET", "/api/cctv/pc-1/recordings/door/0/play")
    assert r.status_code == 422 and r.json()["error_code"] == "invalid_params"  # not a recording's name at all
    params = {p["name"]: p for p in lms.doc["paths"]["/api/cctv/{uuid}/recordings/{camera_id}/{file}/play"]["get"][
        "parameters"]}  # fmt: skip
    assert params["file"]["schema"]["pattern"].endswith(r"_\d{8}-\d{6}-\d{3}\.(mp4|avi)$")


def test_a_ticket_path_is_documented_with_its_pattern(lms: Lms) -> None:
    path = lms.schema("TicketRequest")["properties"]["path"]
    assert path["pattern"].startswith("^/api/cctv/")
    assert lms.call("POST", "/api/cctv/tickets", json={"path": ""}).status_code == 422
    r = lms.call("POST", "/api/cctv/tickets", json={"path": "/api/cctv/pc-1/cameras/door/live"})
    assert r.status_code == 200


def test_names_and_members_are_documented_with_their_patterns(lms: Lms) -> None:
    name = lms.schema("edge__lms__api__tokens__TokenRequest")["properties"]["name"]
    assert name["pattern"] == "^[A-Za-z0-9_.@ -]{1,64}$"
    assert lms.call("POST", "/api/tokens", json={"name": "a:b", "role": "viewer"}).status_code == 422
    assert lms.schema("GroupBody")["properties"]["agents"]["items"]["pattern"].startswith("^[A-Za-z0-9]")
    assert lms.schema("TagsBody")["properties"]["tags"]["items"]["pattern"].startswith("^[A-Za-z0-9]")


# ------------------------------------------------------------------ ST201: schema-violating requests the LMS took


def test_a_boolean_is_true_or_false_not_a_number(lms: Lms) -> None:
    r = lms.call("POST", "/api/site-tls/ca/switch", json={"force": 0})
    assert r.status_code == 422 and "force" in r.json()["error"]
    r = lms.call("POST", "/api/clients/pc-1/command", json={"command": "ping", "queue_if_offline": 1})
    assert r.status_code == 422


def test_a_batch_refuses_params_no_target_could_take_before_it_sends_any(lms: Lms) -> None:
    body = {"command": "cctv_get_recordings", "params": {"camera_id": "zé"}, "target": {"ids": ["a", "b"]}}
    r = lms.call("POST", "/api/commands/batch", json=body)
    assert r.status_code == 422 and r.json()["error_code"] == "invalid_params"  # was 200, every target failed
    r = lms.call("POST", "/api/commands/batch", json={"command": "0", "target": {"all": True}})
    assert r.status_code == 422 and r.json()["error_code"] == "unknown_command"


def test_schedule_weeks_are_documented_as_the_agent_checks_them(lms: Lms) -> None:
    weeks = lms.schema("ScheduleEntry")["properties"]["weeks"]["items"]
    assert (weeks["minimum"], weeks["maximum"]) == (1, 60)
    entry = {"id": 1, "course_id": 1, "day_of_week": 1, "start_time": "08:00", "end_time": "09:00", "weeks": [0]}
    r = lms.call("POST", "/api/clients/pc-1/command", json={"command": "set_schedule",
                                                            "params": {"schedule_entries": [entry]}})  # fmt: skip
    assert r.status_code == 422 and "weeks are numbered 1-60" in r.json()["error"]


def test_a_classtop_uuid_outside_the_pattern_is_refused_not_answered_empty(lms: Lms) -> None:
    for tail in ("courses", "schedule"):
        r = lms.client.get(f"/api/clients/H%F2%9A%A0%B3N/{tail}")
        assert r.status_code == 422 and r.json()["error_code"] == "bad_payload"  # was 200 with an empty list


def test_classtop_weeks_are_numbers_not_booleans(lms: Lms) -> None:
    entry = {"id": 0, "course_id": 0, "day_of_week": 1, "start_time": "00:00", "end_time": "00:00", "weeks": [False]}
    r = lms.client.post("/api/sync", json={"courses": [], "schedule_entries": [entry], "client_uuid": "c-1"})
    assert r.status_code == 422 and "weeks" in r.json()["error"]
    entry = {**entry, "weeks": [], "course_id": False}  # nor is false course 0
    r = lms.client.post("/api/sync", json={"courses": [], "schedule_entries": [entry], "client_uuid": "c-1"})
    assert r.status_code == 422 and "course_id" in r.json()["error"]


def test_classtop_nulls_the_lms_takes_are_documented(lms: Lms) -> None:
    assert lms.schema("ClientRegistration")["properties"]["api_url"]["type"] == ["string", "null"]
    assert lms.schema("SyncCourse")["properties"]["color"]["type"] == ["string", "null"]
    assert lms.schema("SyncUpload")["properties"]["schedule_entries"]["type"] == ["array", "null"]
    r = lms.client.post("/api/sync", json={"courses": [], "schedule_entries": None, "client_uuid": "c-1"})
    assert r.status_code == 403 and "approval" in r.json()["error"]  # the body was taken: the client waits to join


# ------------------------------------------------------------------ ST205: Allow of a 405


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("OPTIONS", "/api/tokens", "GET, HEAD, POST"),
    ("GET", "/api/agents/pc-1/broker-credentials/rotate", "POST"),
    ("PATCH", "/api/groups/g1", "DELETE, GET, HEAD, PUT"),
    ("OPTIONS", "/api/clients/register", "POST"),  # its own path item, not /api/clients/{uuid}'s
    ("OPTIONS", "/api/settings/pc-1/batch", "POST"),
])  # fmt: skip
def test_a_wrong_method_is_405_naming_every_method_of_the_path(lms: Lms, method: str, path: str, allow: str) -> None:
    r = lms.call(method, path)
    assert r.status_code == 405 and r.json()["error_code"] == "not_supported"
    assert r.headers["allow"] == allow


def test_the_console_is_still_served_and_unknown_api_paths_are_404(lms: Lms) -> None:
    assert lms.client.get("/").status_code == 200 and "html" in lms.client.get("/").headers["content-type"]
    r = lms.call("GET", "/api/no-such-thing")
    assert r.status_code == 404 and r.json()["error_code"] == "not_found"


# ------------------------------------------------------------------ the alerts, accounts and session routes


def test_a_recording_hold_for_an_unknown_agent_is_a_documented_404(lms: Lms) -> None:
    r = lms.call("POST", "/api/cctv/0/recordings/hold", json={"name": "0/0"})
    assert r.status_code == 404 and "404" in lms.responses("post", "/api/cctv/{uuid}/recordings/hold"), r.text


def test_a_wrong_sign_in_is_a_documented_401(lms: Lms) -> None:
    r = lms.client.post("/api/session", json={"username": "0", "password": "0"})
    assert r.status_code == 401 and r.json()["error_code"] == "unauthorized"
    assert {"401", "415", "429"} <= set(lms.responses("post", "/api/session"))


def test_a_token_has_no_password_to_change_a_403_not_a_400(lms: Lms) -> None:
    r = lms.call("POST", "/api/session/password", json={"current_password": "0", "new_password": "0123456789"})
    assert r.status_code == 403 and r.json()["error_code"] == "forbidden", r.text
    assert "403" in lms.responses("post", "/api/session/password")


def test_a_new_password_shorter_than_the_policy_is_schema_invalid(lms: Lms) -> None:
    assert lms.schema("PasswordChange")["properties"]["new_password"]["minLength"] == MIN_PASSWORD_LENGTH


def test_an_alert_condition_is_documented_with_its_kind_required(lms: Lms) -> None:
    """Without ``kind`` the discriminated union cannot pick a member: a 422 for a body the document allowed."""
    condition = lms.schema("AlertRule")["properties"]["condition"]["allOf"]
    mapping = next(part for part in condition if "discriminator" in part)["discriminator"]["mapping"]
    members = [ref.rsplit("/", 1)[-1] for ref in mapping.values()]
    assert "MetricThresholdCondition" in members and len(members) == 7
    for name in members:
        assert "kind" in lms.schema(name)["required"], name
    body = {"rule_id": "r0", "name": "0", "condition": {"clear": 0.0, "metric": "load_1", "threshold": 0.0}}
    assert lms.call("POST", "/api/alerts/rules", json=body).status_code == 422
    # and a camera_health rule's conditions do not repeat (found by the cloud's bigger run; the same shared schema)
    assert lms.schema("CameraHealthCondition")["properties"]["conditions"]["uniqueItems"] is True


def test_a_silence_is_documented_as_naming_a_rule_an_agent_or_both(lms: Lms) -> None:
    branches = lms.schema("SilenceBody")["anyOf"]
    assert [b["required"] for b in branches] == [["rule_id"], ["agent_id"]]
    r = lms.call("POST", "/api/alerts/silences", json={"duration_s": 5e-324, "reason": "0"})
    assert r.status_code == 422 and "rule_id, an agent_id or both" in r.json()["error"]


def test_a_maintenance_window_is_documented_as_this_sites_only(lms: Lms) -> None:
    scope = lms.schema("MaintenanceBody")["properties"]["scope"]
    assert {"properties": {"sites": {"type": "null"}}} in scope["allOf"]


def test_a_site_rule_is_documented_as_one_an_lms_evaluates(lms: Lms) -> None:
    """The shared rule schema also admits the cloud's own kinds and a tenant rule's sites: the LMS refuses both (422),
    and its document says so."""
    rule = lms.schema("AlertRule")["properties"]
    assert {"properties": {"sites": {"type": "null"}}} in rule["scope"]["allOf"]
    kinds = next(part for part in rule["condition"]["allOf"] if "properties" in part)["properties"]["kind"]
    assert sorted(kinds["not"]["enum"]) == ["cloud_link_down", "lms_offline"]
    for body in ({"rule_id": "r1", "name": "x", "condition": {"kind": "lms_offline"}},
                 {"rule_id": "r2", "name": "x", "condition": {"kind": "agent_offline"}, "scope": {"sites": ["s1"]}}):
        assert lms.call("POST", "/api/alerts/rules", json=body).status_code == 422, body


def test_an_account_body_takes_json_booleans_only(lms: Lms) -> None:
    """Found by the bigger run: ``{"cameras": 0}`` was taken as false (the document says boolean)."""
    r = lms.call("POST", "/api/accounts", json={"cameras": 0, "role": "admin", "username": "zero"})
    assert r.status_code == 422, r.text
    assert lms.call("PATCH", "/api/accounts/1", json={"disabled": 1}).status_code == 422


def test_a_site_rule_takes_a_json_boolean_for_enabled(lms: Lms) -> None:
    """Found by the full run: ``"enabled": 0`` was taken as false (the document says boolean)."""
    rule = {"rule_id": "r0", "name": "x", "enabled": 0,
            "condition": {"kind": "metric_threshold", "metric": "load_1", "threshold": 1.0, "clear": 0.0}}  # fmt: skip
    assert lms.call("POST", "/api/alerts/rules", json=rule).status_code == 422
    assert lms.call("PUT", "/api/alerts/rules/r0", json=rule).status_code == 422
    assert lms.call("POST", "/api/alerts/rules", json={**rule, "enabled": False}).status_code == 201


def test_an_enrolment_token_request_takes_json_numbers_for_its_counts() -> None:
    """Found by the full run: ``{"max_uses": true}`` was taken as 1 (the document says integer; the run's LMS has
    enrolment on, this one answers 501 before it reads a body: the route's model, then). An integral float is an
    integer to JSON Schema."""
    for body in ({"max_uses": True}, {"max_uses": "2"}, {"ttl_s": "3600"}, {"ttl_s": True}):
        with pytest.raises(ValidationError):
            TokenRequest.model_validate(body)
    assert TokenRequest.model_validate({"max_uses": 2.0, "ttl_s": 3600}).max_uses == 2


@pytest.mark.parametrize("text", ["\xa03", " 3", "3 ", "+3", "3.0", "٣"])
def test_an_integer_query_parameter_is_digits_only(lms: Lms, text: str) -> None:
    """Found by the full run: ``?limit=%C2%A03`` (a no-break space, then 3; the last of a repeated parameter) was
    taken as 3 where the document says integer."""
    for path in ("/api/cloud/dead-letters", "/api/events"):
        assert lms.call("GET", path, params={"limit": text}).status_code == 422, path
    assert lms.call("GET", "/api/events", params={"limit": "3"}).status_code == 200
    assert lms.call("DELETE", f"/api/tokens/{text}").status_code == 422  # a row id in a path alike
