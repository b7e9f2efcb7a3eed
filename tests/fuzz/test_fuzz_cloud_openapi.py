"""schemathesis against the cloud API's OpenAPI document, on the local twin's cloud (``infra.local.cloud``: moto in
server mode, the Chalice app over real HTTP) on free loopback ports, with the admin token it issued and a site's API
key of an LMS registered through the API.

Every operation of the document (``chalicelib.api.openapi.build_document``, the same document as
``docs/openapi.json``: ``tests/unit/cloud/test_cloud_openapi.py`` keeps them equal) is fed schema-valid and
schema-invalid requests and every answer goes through all of schemathesis's checks: no 5xx; a schema-valid request
accepted (never a 400), a schema-invalid one refused with a 4xx; each status and each body as documented; the
documented security enforced; methods the document does not list refused. Then the stateful run follows the
document's links (a created resource can be read, a deleted one is gone).

Sizes come from the hypothesis profile (``tests/fuzz/conftest.py``): ``default`` is the short run of ``make test``;
``HYPOTHESIS_PROFILE=fuzz`` is ``make fuzz``'s. No operation is excluded, nor spared a check (the pool's routes
also take a documented 422 for a valid request: :data:`_POOL_REFUSES`): the destructive ones (``DELETE
/api/lms/{site_id}``, the retirements, token revocation) act only on what the run itself created or on ids it
made up (404), and the admin token the run uses is never named by a link.
"""

from __future__ import annotations

import json
import os
import urllib.request
import zoneinfo
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import settings
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig
from schemathesis.config._checks import (
    NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES,
    POSITIVE_DATA_ACCEPTANCE_EXPECTED_STATUSES,
)

from chalicelib.adapters.webhooks import check_url
from chalicelib.api.openapi import build_document
from chalicelib.api.params import CURSOR_FORMAT
from chalicelib.domain.user import EMAIL_PATTERN
from chalicelib.errors import BadRequest
from tests.fixtures.local_cloud import LocalCloudProcess, running_local_cloud
from tests.fuzz import openapi_repairs as repairs
from tests.fuzz.tally import tally

pytestmark = [pytest.mark.integration, pytest.mark.timeout(3600)]


def _register_lms(api_url: str) -> str:
    """A site's API key: an LMS registered as a new site (the local cloud's ``lms_policy`` admits new sites)."""
    body = {"lms_uuid": "fuzz-site", "name": "fuzz", "host": "127.0.0.1", "port": 8000, "version": "1.0.0"}
    request = urllib.request.Request(f"{api_url}/api/lms/register", data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return str(json.loads(answer.read())["data"]["api_key"])


@pytest.fixture(scope="module")
def local_cloud() -> Iterator[LocalCloudProcess]:
    with running_local_cloud("fuzz-cloud-") as cloud:
        yield cloud
        tracebacks = [line for line in cloud.log_path.read_text(errors="replace").splitlines()
                      if "Traceback" in line or "unhandled error" in line]
        assert not tracebacks, cloud.log_path.read_text(errors="replace")[-5000:]


#: a body over the size limit is refused with 413 (documented on every route with a body): a refusal, whether the
#: body was schema-valid (too big) or not
_REFUSED = {"positive_data_acceptance": [*POSITIVE_DATA_ACCEPTANCE_EXPECTED_STATUSES, "413"],
            "negative_data_rejection": [*NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES, "413"]}
#: the document as the code builds it (the same as docs/openapi.json)
#: the short run (``make test``) leaves out the coverage phase (each operation's boundary values, undeclared methods,
#: missing parameters: some 3,500 requests); ``make fuzz`` runs every phase
_SHORT = os.environ.get("HYPOTHESIS_PROFILE", "default") == "default"
#: examples per operation: the short run a quarter of the profile's (``make test`` stays around a minute); ``make
#: fuzz`` a tenth of ``FUZZ_EXAMPLES`` (200 by default), as the LMS's run (tests/fuzz/openapi_checks.py): each case
#: is an HTTP round trip through moto, ~20 a second here, and 2,000 for each of ~90 operations would take hours
_SIZE: dict[str, Any] = {"max_examples": max(1, settings().max_examples // (4 if _SHORT else 10))}
#: Operations whose schema-valid requests may meet a 422: the user pool refuses a well-formed answer it cannot
#: accept (a wrong or expired code: the run cannot read the e-mail or the authenticator app; a new password its
#: policy refuses: the policy is the pool's, not the document's). Documented on each of them.
_POOL_REFUSES = ("/api/auth/challenge", "/api/auth/reset", "/api/auth/mfa/verify")
schema = schemathesis.openapi.from_dict(build_document(), config=SchemathesisConfig.from_dict({
    "checks": {name: {"expected-statuses": statuses} for name, statuses in _REFUSED.items()},
    "phases": {"coverage": {"enabled": not _SHORT}},
    "operations": [{"include-path": path, "checks": {"positive_data_acceptance": {
        "expected-statuses": [*_REFUSED["positive_data_acceptance"], "422"]}}} for path in _POOL_REFUSES],
}))  # fmt: skip
# A ``cursor`` is one the API returned (format ``cursor``): without a previous page to take it from, the only one a
# generated request can give is the empty one (the first page); made-up cursors are negative cases (400).
schemathesis.openapi.format(CURSOR_FORMAT, st.just(""))


@schema.hook
def map_case(_context: Any, case: Any) -> Any:
    """A schema-valid case given the rules JSON Schema cannot state (tests/fuzz/openapi_repairs.py says each one and
    why); an invalid case keeps whatever makes it invalid."""
    positive = case.meta is not None and case.meta.generation.mode.name == "POSITIVE"
    if positive and case.operation.path == "/api/users/{email}" and isinstance(case.path_parameters, dict):
        email = case.path_parameters.get("email")
        if isinstance(email, str):
            case.path_parameters["email"] = repairs.path_email(email, EMAIL_PATTERN)
    if not positive or not isinstance(case.body, dict):
        return case
    body, path = case.body, case.operation.path
    if body.get("command") == "set_schedule" and isinstance(body.get("params"), dict):
        for entry in body["params"].get("schedule_entries") or []:
            repairs.end_after_start(entry)
    if path == "/api/sync":
        for name in ("courses", "schedule_entries"):  # ids unique within each list (a repeated id is a 400)
            items = body.get(name)
            if isinstance(items, list):
                unique: dict[Any, Any] = {}
                for item in items:
                    unique.setdefault(item["id"], item)
                body[name] = list(unique.values())
    if path == "/api/alert-rules/{rule_id}":
        repairs.cloud_rule(body, (case.path_parameters or {}).get("rule_id"))
    if path == "/api/alert-channels":
        _channel(body)
    return case


def _channel(body: dict[str, Any]) -> None:
    """An alert channel's quiet hours in a time zone the host's zone database has (which zones exist is the
    host's, not the document's), and a webhook's URL at a host the cloud sends to (where a host points is checked
    when the channel is added, not by the URL's shape: a private address is a 400)."""
    quiet = body.get("quiet_hours")
    if isinstance(quiet, dict) and quiet.get("timezone", "UTC") not in zoneinfo.available_timezones():
        quiet["timezone"] = "UTC"
    if body.get("kind") == "webhook" and isinstance(body.get("address"), str):
        try:
            check_url(body["address"])
        except BadRequest:
            body["address"] = "https://hooks.example.com/classtop"


#: the bearer secret of each security scheme of the document (set by the ``credentials`` fixture)
CREDENTIALS: dict[str, str] = {}


@schema.auth(refresh_interval=None)
class CloudCredentials:
    """The credentials the operation's security asks for (none for a public one, or when a negative case left the
    Authorization header out on purpose: schemathesis then applies none)."""

    def get(self, case: Any, _ctx: Any) -> str | None:
        for requirement in case.operation.definition.raw.get("security", []):
            if not requirement:  # {}: no credentials needed
                return None
            for scheme in requirement:
                if scheme in CREDENTIALS:
                    return CREDENTIALS[scheme]
        return None

    def set(self, case: Any, data: str, _ctx: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@pytest.fixture(scope="module")
def credentials(local_cloud: LocalCloudProcess) -> Iterator[None]:
    CREDENTIALS.update(apiToken=local_cloud.admin_token, lmsApiKey=_register_lms(local_cloud.api_url))
    yield
    CREDENTIALS.clear()


@schema.parametrize()
@settings(settings(), **_SIZE)
def test_every_cloud_operation_is_as_documented(case: Any, local_cloud: LocalCloudProcess, credentials: None) -> None:
    tally(f"cloud openapi: {case.method} {case.path}")
    case.call_and_validate(base_url=local_cloud.api_url)


def test_cloud_stateful_links(local_cloud: LocalCloudProcess, credentials: None) -> None:
    """Sequences that follow the document's links (a token created then revoked, a command created then read, a
    client registered then read and approved, an agent reported by the site then tagged and read...) with the
    stateful checks (a created resource is there; a deleted one is gone)."""

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": local_cloud.api_url}

        def after_call(self, response: Any, case: Any) -> None:
            tally("cloud openapi: stateful steps")

    Workflow.run(settings=settings(settings(), stateful_step_count=10, **_SIZE))
