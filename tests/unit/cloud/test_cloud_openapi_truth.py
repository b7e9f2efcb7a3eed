"""The OpenAPI document is the truth (issue 17): what it allows the cloud accepts, what it does not the cloud refuses
with a 4xx. Each test is a failure schemathesis found against the local cloud (tests/fuzz/test_fuzz_cloud_openapi.py),
kept as a plain example: the document's side (validated with jsonschema) and the server's side (the app in-process
on moto)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

from chalicelib.api.bodies.logs import LogsBody
from chalicelib.api.openapi import build_document
from chalicelib.domain.user import EMAIL_PATTERN
from shared.topics import is_valid_id
from tests.unit.cloud.cloud_testkit import T0, Cloud, running_cloud

DOC = build_document()
DAY = 86400


def body_schema(method: str, path: str) -> dict[str, Any]:
    ref = DOC["paths"][path][method.lower()]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    return {**DOC["components"]["schemas"][ref.rsplit("/", 1)[1]], "components": DOC["components"]}


def allows(method: str, path: str, body: Any) -> bool:
    return bool(jsonschema.Draft202012Validator(body_schema(method, path)).is_valid(body))


def query_schema(method: str, path: str, name: str) -> dict[str, Any]:
    params = DOC["paths"][path][method.lower()]["parameters"]
    return next(p["schema"] for p in params if p["name"] == name and p["in"] == "query")


@pytest.fixture(scope="module")
def fleet() -> Iterator[Cloud]:
    with running_cloud() as cloud:
        yield cloud


def status(response: Any) -> int:
    return int(response.status_code)


# ---------------------------------------------------------------- query parameters: typed, bounded, checked


@pytest.mark.parametrize(("path", "name", "good", "bad"), [
    ("/api/agents", "limit", "500", ["0", "501", "abc", "", "1.5", "1e2"]),
    ("/api/agents", "status", "offline", ["busy"]),
    ("/api/agents", "pending", "true", ["yes"]),
    ("/api/agents", "site_id", "s1", ["a%2Fb", "a%20b", "a%0A"]),
    ("/api/stats", "days", "90", ["0", "91"]),
    ("/api/audit", "since", "0", ["-1", "nan", "inf", "5000000000"]),
    ("/api/upgrades/campaigns", "limit", "200", ["201"]),
    ("/api/cctv/events", "day", "2026-12-06", ["2026-13-01", "\uff12\uff10\uff12\uff16-12-06"]),
])  # fmt: skip
def test_query_parameters_are_typed_in_the_document_and_checked_alike(
    fleet: Cloud, path: str, name: str, good: str, bad: list[str]
) -> None:
    """Found: every query parameter documented as a plain string, so ``?limit=abc`` was "valid" and a 400, and
    the audit window a 400 for valid bounds. Now each has its type and bounds, and the route checks exactly those."""
    schema = query_schema("GET", path, name)
    wanted = {"integer": int, "number": float}.get(schema["type"])
    assert status(fleet.get(f"{path}?{name}={good}")) == 200
    for value in bad:
        response = fleet.get(f"{path}?{name}={value}")
        assert status(response) == 400, (value, response.json_body)
        assert name in response.json_body["error"]["message"]
        if wanted is not None and value.lstrip("-").isdigit():  # a number outside the documented bounds
            number = wanted(value)
            assert not schema.get("minimum", number) <= number <= schema.get("maximum", number), value


def test_a_number_with_many_digits_is_a_number(fleet: Cloud) -> None:
    """Found by ``make fuzz``: ``GET /api/audit?since=0.0014176693106700711`` answered 400 ("since: must be a
    number"), the check allowing 18 digits after the point; JSON Schema's number has no such limit."""
    assert status(fleet.get("/api/audit?since=0.0014176693106700711&until=3888076000.09481")) == 200
    assert status(fleet.get(f"/api/audit?since=1{'0' * 30}e-30&until=0.{'1' * 300}")) == 200
    assert status(fleet.get("/api/audit?since=1e999")) == 400  # not finite: no number the document allows


def test_an_id_with_a_trailing_newline_is_no_id() -> None:
    """Found: ``re.match`` with ``$`` takes ``"a\\n"`` (``$`` matches before a final newline); JSON Schema's pattern
    does not. Ids, setting keys and query patterns are matched whole."""
    assert not is_valid_id("a\n") and is_valid_id("a")


def test_path_ids_carry_their_pattern(fleet: Cloud) -> None:
    """Found: path parameters documented as any string, and a 400 for one that is not an id."""
    param = DOC["paths"]["/api/agents/{agent_id}"]["get"]["parameters"][0]
    assert param["schema"]["pattern"] == r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
    assert status(fleet.get("/api/agents/a%0A")) == 400
    assert status(fleet.get("/api/agents/unknown-agent")) == 404


def test_events_without_agent_or_day_are_today_s(fleet: Cloud) -> None:
    """Found: ``GET /api/cctv/events`` with neither optional parameter was a 400."""
    response = fleet.get("/api/cctv/events")
    assert status(response) == 200 and response.json_body["data"]["events"] == []


def test_a_long_audit_window_is_paged_and_an_empty_one_is_empty(fleet: Cloud) -> None:
    """Found: ``since`` and ``until`` further apart than 31 days, or in the wrong order, were a 400 though each was
    valid. A long window is now read 31 days per page (a page may hold nothing and still have a cursor)."""
    fleet.post("/api/tokens", {"name": "audited", "role": "viewer"})  # one entry, now
    first = fleet.get(f"/api/audit?since=0&until={T0 + 60}")
    assert status(first) == 200, first.json_body
    pages, cursor = [first.json_body["data"]], first.json_body["data"].get("cursor")
    while cursor:
        page = fleet.get(f"/api/audit?since={T0 - 100 * DAY}&until={T0 + 60}&cursor={cursor}")
        assert status(page) == 200, page.json_body
        pages.append(page.json_body["data"])
        cursor = page.json_body["data"].get("cursor")
        assert len(pages) < 10
    empty = fleet.get(f"/api/audit?since={T0}&until={T0 - 10}")
    assert status(empty) == 200 and empty.json_body["data"]["entries"] == []
    assert any(e["action"] == "token.create" for e in first.json_body["data"]["entries"])
    window = fleet.get(f"/api/audit?since={T0 - 100 * DAY}&until={T0 - 80 * DAY}")
    assert status(window) == 200 and window.json_body["data"]["entries"] == []
    long = fleet.get(f"/api/audit?since={T0 - 100 * DAY}&until={T0 + 60}")
    assert status(long) == 200 and long.json_body["data"].get("cursor"), long.json_body


# ---------------------------------------------------------------- bodies: the document states the validators' rules


def test_an_integral_float_is_an_integer(fleet: Cloud) -> None:
    """Found: ``"ttl_s": 86400.0`` is an integer to JSON Schema but was refused by the strict model."""
    assert allows("POST", "/api/tokens", {"name": "t", "role": "viewer", "ttl_s": 86400.0})
    assert status(fleet.post("/api/tokens", {"name": "t", "role": "viewer", "ttl_s": 86400.0})) == 201
    assert not allows("POST", "/api/tokens", {"name": "t", "role": "viewer", "ttl_s": 86400.5})
    assert status(fleet.post("/api/tokens", {"name": "t", "role": "viewer", "ttl_s": 86400.5})) == 400
    assert status(fleet.post("/api/tokens", {"name": "t", "role": "viewer", "ttl_s": "86400"})) == 400


@pytest.mark.parametrize("body", [
    {"command": "ping"},  # no target
    {"command": "ping", "agent_id": "a1", "tag": "t"},  # two targets
    {"command": "cctv_add_camera", "agent_id": "a1"},  # its params are required
    {"command": "rotate_broker_password", "agent_id": "a1", "params": {"password": "x" * 20}},  # the LMS's own
    {"command": "no_such_command", "agent_id": "a1"},
    {"command": "ping", "agent_id": "a/1"},
    {"command": "update_settings_batch", "agent_id": "a1", "params": {"settings": {"bad key": "v"}}},
    {"command": "cctv_add_camera", "agent_id": "a1", "params": {"camera_id": "c1", "source": 64}},
    {"command": "cctv_add_camera", "agent_id": "a1", "params": {"camera_id": "c1", "source": 0, "width": 640}},
    {"command": "cctv_add_camera", "agent_id": "a1", "params": {"camera_id": "c1", "source": 0, "width": 641,
                                                                 "height": 480}},
])  # fmt: skip
def test_command_bodies_the_cloud_refuses_are_invalid_in_the_document(fleet: Cloud, body: dict[str, Any]) -> None:
    """Found: targets, command names and their params were free-form in the document (400 for "valid" bodies)."""
    assert not allows("POST", "/api/commands", body)
    assert status(fleet.post("/api/commands", body, role="admin")) == 400


def test_command_bodies_the_document_allows_get_past_validation(fleet: Cloud) -> None:
    for body in ({"command": "ping", "agent_id": "nobody"}, {"command": "get_setting", "agent_ids": ["nobody"],
                                                             "params": {"key": "theme"}}):
        assert allows("POST", "/api/commands", body)
        assert status(fleet.post("/api/commands", body)) == 404  # an unknown agent, not a bad body


def test_repeated_tags_settings_values_and_camera_sources_are_in_the_document() -> None:
    """Found: repeated tags, a camera source that is not a device, URL or test pattern, and a number as a setting
    value (accepted) were not what the document said."""
    assert not allows("PUT", "/api/agents/{agent_id}/tags", {"tags": ["a", "a"]})
    assert allows("PUT", "/api/agents/{agent_id}/settings", {"settings": {"volume": 3, "dark": True, "x": None}})
    camera = {"name": "door"}
    assert allows("PUT", "/api/cctv/agents/{agent_id}/cameras/{camera_id}", {**camera, "source": 0})
    assert allows("PUT", "/api/cctv/agents/{agent_id}/cameras/{camera_id}", {**camera, "source": "rtsp://cam/1"})
    for source in (64, "/etc/passwd", "file:///etc/passwd", "synthetic:other"):
        assert not allows("PUT", "/api/cctv/agents/{agent_id}/cameras/{camera_id}", {**camera, "source": source})


def test_blank_token_names_and_empty_configs_are_invalid_in_the_document(fleet: Cloud) -> None:
    """Found (FUZZ_EXAMPLES=200): a token name of whitespace (the service strips it) and an empty LMS configuration
    were schema-valid and a 400."""
    for name in ("\f", " ", "\x1c", "\ufeff"):
        assert not allows("POST", "/api/tokens", {"name": name, "role": "viewer"}), repr(name)
        assert status(fleet.post("/api/tokens", {"name": name, "role": "viewer"})) == 400
    assert allows("POST", "/api/tokens", {"name": " a ", "role": "viewer"})
    assert not allows("PUT", "/api/lms/{site_id}/config", {"config": {}})


def test_classtop_nulls_are_documented(fleet: Cloud) -> None:
    """Found: the ClassTop client's ``null`` (read as empty, as the LMS reads it) was undocumented."""
    body = {"uuid": "c-1", "name": None, "api_url": None}
    assert allows("POST", "/api/clients/register", body)
    assert status(fleet.post("/api/clients/register", body, role=None)) in (200, 403)
    assert not allows("POST", "/api/clients/register", {"uuid": "c 1"})


def test_a_log_range_over_31_days_is_cut_to_its_newest_31() -> None:
    """Found: since/until further apart than 31 days (or reversed) were a 400 though each was valid."""
    assert LogsBody.model_validate({"since": 0, "until": 40 * DAY}).since == 9 * DAY
    reversed_range = LogsBody.model_validate({"since": 50 * DAY, "until": 40 * DAY})
    assert reversed_range.since == reversed_range.until == 40 * DAY


def test_every_status_a_route_answers_is_documented() -> None:
    """Found: ``POST /api/upgrades/packages`` answered 201, undocumented."""
    assert "201" in DOC["paths"]["/api/upgrades/packages"]["post"]["responses"]
    for path, operations in DOC["paths"].items():
        for method, operation in operations.items():
            assert {"404", "500"} <= set(operation["responses"]), (method, path)
            if "requestBody" in operation:
                assert {"400", "413"} <= set(operation["responses"]), (method, path)



# ---------------------------------------------------------------- the alert, sign-in and accounts routes


def test_exec_needs_its_params_in_the_document() -> None:
    """Found: ``exec`` requires no single field (one of ``cmd`` and ``argv``), so the document let its params be
    absent or ``null`` (``{}``: a 400). Now its params are required, and exactly one of the two."""
    assert not allows("POST", "/api/commands", {"command": "exec", "agent_id": "a1"})
    assert not allows("POST", "/api/commands", {"command": "exec", "agent_id": "a1", "params": None})
    assert not allows("POST", "/api/commands", {"command": "exec", "agent_id": "a1",
                                                "params": {"cmd": "true", "argv": ["true"]}})  # fmt: skip
    assert allows("POST", "/api/commands", {"command": "exec", "agent_id": "a1", "params": {"argv": ["true"]}})


@pytest.mark.parametrize(("body", "valid"), [
    ({"kind": "sms", "address": "000"}, False),  # found: any string was a phone number in the document
    ({"kind": "sms", "address": "+441234567890"}, True),
    ({"kind": "email", "address": "+441234567890"}, False),
    ({"kind": "email", "address": "ops@example.com", "secret": "s" * 32}, False),  # only a webhook has a secret
    ({"kind": "webhook", "address": "http://example.com/x"}, False),
    ({"kind": "webhook", "address": "https://user@example.com/x"}, False),
    ({"kind": "webhook", "address": "https://example.com/x", "secret": "s" * 32}, True),
])  # fmt: skip
def test_an_alert_channel_address_is_documented_per_kind(fleet: Cloud, body: dict[str, Any], valid: bool) -> None:
    assert allows("POST", "/api/alert-channels", body) is valid
    if not valid:
        assert status(fleet.post("/api/alert-channels", body)) == 400


def test_an_alert_condition_needs_its_kind_in_the_document(fleet: Cloud) -> None:
    """Found: the condition members' ``kind`` has a default, so pydantic's schema left it optional; the
    discriminated union cannot pick a member without it (a 400 for a "valid" rule)."""
    body: dict[str, Any] = {"rule_id": "r0", "name": "0",
                            "condition": {"clear": 0.0, "metric": "load_1", "threshold": 0.0}}
    assert not allows("PUT", "/api/alert-rules/{rule_id}", body)
    assert status(fleet.put("/api/alert-rules/r0", body)) == 400
    body["condition"]["kind"] = "metric_threshold"
    assert allows("PUT", "/api/alert-rules/{rule_id}", body)


@pytest.mark.parametrize(("body", "valid"), [
    ({"email": "a@b.cc", "challenge": "SOFTWARE_TOKEN_MFA", "session": "s" * 20}, False),  # found: no code
    ({"email": "a@b.cc", "challenge": "SOFTWARE_TOKEN_MFA", "session": "s" * 20, "code": "123456"}, True),
    ({"email": "a@b.cc", "challenge": "NEW_PASSWORD_REQUIRED", "session": "s" * 20, "code": "123456"}, False),
    ({"email": "a@b.cc", "challenge": "NEW_PASSWORD_REQUIRED", "session": "s" * 20, "new_password": "p"}, True),
    ({"email": "a@b.cc", "challenge": "NEW_PASSWORD_REQUIRED", "session": "0", "new_password": "p"}, False),
    ({"email": "a@b.cc", "challenge": "NEW_PASSWORD_REQUIRED", "session": "s" * 20, "new_password": " "}, False),
])  # fmt: skip
def test_a_challenge_answer_is_documented_per_challenge(body: dict[str, Any], valid: bool) -> None:
    """Found: the answer each challenge needs was a 400 the document did not state, and a session shorter than the
    pool takes (20 characters) reached the pool, whose client refused it: a 502."""
    assert allows("POST", "/api/auth/challenge", body) is valid


@pytest.mark.parametrize("email", ["p\u010d\u00ee\u00ee@yum.CnTMjL", "!a@b.cc", "a b@c.dd"])
def test_an_account_email_is_what_every_pool_takes(email: str) -> None:
    """Found: a non-ASCII e-mail was valid in the document and refused by the pool (InvalidParameterException: a
    400 for a valid invitation)."""
    assert not allows("POST", "/api/users", {"email": email, "role": "viewer"})
    assert not allows("POST", "/api/auth/sign-in", {"email": email, "password": "p"})


def test_an_account_path_is_documented_as_an_email_and_taken_percent_encoded(fleet: Cloud) -> None:
    """Found: the path's e-mail comes percent-encoded (``00%40p000.yum``: API Gateway and the local server pass the
    path as sent, and the dashboard encodes it), and was refused as "not an e-mail address"."""
    params = DOC["paths"]["/api/users/{email}"]["delete"]["parameters"]
    assert params[0]["schema"]["pattern"] == EMAIL_PATTERN
    response = fleet.delete("/api/users/00%40p000.yum")
    assert status(response) != 400, response.json_body  # decoded: no user pool in this cloud, or no such user
    response = fleet.delete("/api/users/not-an-email")
    assert status(response) == 400 and "email" in response.json_body["error"]["message"]


@pytest.mark.parametrize(("config", "valid"), [
    ({"\u0006\u00fb\u00e3": [{}, {"": []}, {}]}, False),  # found: any key was valid in the document, then a 400
    ({"no_such_key": None}, True),  # a removal: any key
    ({"no_such_key": {"deeper": {"still": None}}}, True),  # an object of removals (AWS's merge drops it)
    ({"no_such_key": 1}, False),
    ({"classtop": {"max_clients": 5, "no_such_key": None}}, True),
    ({"classtop": {"no_such_key": 5}}, False),
    ({"log_level": "DEBUG", "site_heartbeat_s": 30}, True),
    ({"log_level": 5}, False),
])  # fmt: skip
def test_an_lms_configuration_is_documented_as_the_cloud_checks_it(
    fleet: Cloud, config: dict[str, Any], valid: bool
) -> None:
    assert allows("PUT", "/api/lms/{site_id}/config", {"config": config}) is valid
    if not valid:
        fleet.heartbeat("s1", [])  # a site to configure
        assert status(fleet.put("/api/lms/s1/config", {"config": config})) == 400


def test_a_camera_condition_list_is_documented_without_repeats(fleet: Cloud) -> None:
    """Found by the bigger run: a camera_health rule repeating a condition was valid in the document, a 400."""
    body: dict[str, Any] = {"rule_id": "cams", "name": "cams",
                            "condition": {"kind": "camera_health", "conditions": ["frozen", "frozen"]}}
    assert not allows("PUT", "/api/alert-rules/{rule_id}", body)
    assert status(fleet.put("/api/alert-rules/cams", body)) == 400
    body["condition"]["conditions"] = ["frozen", "covered"]
    assert allows("PUT", "/api/alert-rules/{rule_id}", body)


def test_an_email_channel_takes_an_ascii_address_in_both_dialects() -> None:
    """Found by the bigger run: ``[^@\\s]`` let a control character (``\\x1c``) through JSON Schema's dialect but
    not Python's (whose ``\\s`` holds it): a 400 for a "valid" address."""
    assert not allows("POST", "/api/alert-channels", {"kind": "email", "address": "a\x1cb@example.com"})
    assert allows("POST", "/api/alert-channels", {"kind": "email", "address": "ops+alerts@example.com"})
