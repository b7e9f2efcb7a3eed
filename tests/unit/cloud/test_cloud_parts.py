"""The cloud plane's parts on their own: settings, the IoT adapter, tokens, aggregate status, write races."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.iotdata.models import iotdata_backends

from chalicelib import container, models
from chalicelib.adapters.iot import IotDataPublisher
from chalicelib.config import Settings
from chalicelib.domain import AgentOutcome, Principal, Role, aggregate_status
from chalicelib.errors import BadRequest, ConfigError, Forbidden, Unauthorized, UpstreamError
from chalicelib.services.tokens import hash_secret
from shared.messages import CommandStatus
from shared.messages.structs import AgentResult, build
from tests.unit.cloud.cloud_testkit import SETTINGS, Cloud, online

# ---------------------------------------------------------------- settings


def test_settings_from_env() -> None:
    settings = Settings.from_env({"CLASSTOP_TENANT": "acme", "AWS_DEFAULT_REGION": "eu-west-1"})
    assert (settings.tenant, settings.stage, settings.region, settings.aws_endpoint) == (
        "acme", "dev", "eu-west-1", None)
    assert settings.table_name("command") == "classtop--acme--dev--command"
    names = models.table_names(settings)
    assert {"command", "agent", "site", "token", "client", "snapshot", "audit"} <= set(names)
    assert all(name == f"classtop--acme--dev--{aggregate}" for aggregate, name in names.items())
    prefixed = Settings.from_env({"CLASSTOP_TENANT": "acme", "AWS_REGION": "us-east-2",
                                  "CLASSTOP_TABLE_PREFIX": "ct-test", "CLASSTOP_STAGE": "prod",
                                  "CLASSTOP_AWS_ENDPOINT": "http://127.0.0.1:5000"})
    assert prefixed.table_name("site") == "ct-test-site"
    assert prefixed.iot_data_url == "http://127.0.0.1:5000"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"AWS_DEFAULT_REGION": "us-east-1"}, "CLASSTOP_TENANT"),
        ({"CLASSTOP_TENANT": "Bad_Tenant", "AWS_DEFAULT_REGION": "us-east-1"}, "CLASSTOP_TENANT"),
        ({"CLASSTOP_TENANT": "acme"}, "AWS_DEFAULT_REGION"),
        ({"CLASSTOP_TENANT": "acme", "AWS_DEFAULT_REGION": "x", "CLASSTOP_STAGE": "Prod!"}, "CLASSTOP_STAGE"),
        ({"CLASSTOP_TENANT": "acme", "AWS_DEFAULT_REGION": "x", "CLASSTOP_AWS_ENDPOINT": "localhost:5000"},
         "CLASSTOP_AWS_ENDPOINT"),
        ({"CLASSTOP_TENANT": "acme", "AWS_DEFAULT_REGION": "x", "CLASSTOP_MAX_BODY_BYTES": "big"},
         "CLASSTOP_MAX_BODY_BYTES"),
        ({"CLASSTOP_TENANT": "acme", "AWS_DEFAULT_REGION": "x", "CLASSTOP_MAX_TARGETS": "0"}, "max_targets"),
    ],
)
def test_bad_settings_are_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


# ---------------------------------------------------------------- IoT adapter


def test_iot_publisher_publishes_through_boto3() -> None:
    with mock_aws():
        publisher = IotDataPublisher(region="us-east-1")
        publisher.publish("ct/demo/dev/site/s1/down/command", b'{"x":1}')
        assert publisher.client is publisher.client  # created once
        published = iotdata_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].published_payloads
        assert ("ct/demo/dev/site/s1/down/command", b'{"x":1}') in [(t, bytes(p)) for t, p in published]


@pytest.mark.parametrize(
    ("aws_code", "error"),
    [("ThrottlingException", UpstreamError), ("InternalFailureException", UpstreamError),
     ("InvalidRequestException", BadRequest), ("UnauthorizedException", Forbidden)],
)
def test_iot_publisher_translates_client_errors(aws_code: str, error: type[Exception]) -> None:
    client = boto3.client("iot-data", region_name="us-east-1", endpoint_url="https://iot.invalid")
    with Stubber(client) as stub:
        stub.add_client_error("publish", service_error_code=aws_code, service_message="nope")
        with pytest.raises(error, match=aws_code):
            IotDataPublisher(client).publish("ct/demo/dev/site/s1/down/command", b"{}")


def test_iot_publisher_translates_connection_errors() -> None:
    publisher = IotDataPublisher(endpoint_url="http://127.0.0.1:9", region="us-east-1")
    with pytest.raises(UpstreamError, match="IoT publish"):
        publisher.publish("ct/demo/dev/site/s1/down/command", b"{}")


# ---------------------------------------------------------------- tokens and roles


def test_tokens(cloud: Cloud) -> None:
    tokens = container.get().tokens
    issued = tokens.create("viewer", "dashboard", site_ids=["s1", "s2"], created_by="admin")
    assert issued.secret.startswith("ctk_") and issued.token.token_hash == hash_secret(issued.secret)
    principal = tokens.authenticate(f"bearer  {issued.secret} ")
    assert principal == Principal("dashboard", Role.VIEWER, frozenset({"s1", "s2"}))
    assert tokens.revoke(issued.token.token_id) == issued.token
    with pytest.raises(Unauthorized):
        tokens.authenticate(f"Bearer {issued.secret}")
    bads: list[dict[str, Any]] = [{"role": "root"}, {"name": " "}, {"site_ids": []}, {"site_ids": ["a/b"]}]
    for bad in bads:
        kwargs: dict[str, Any] = {"role": "admin", "name": "x", **bad}
        with pytest.raises(BadRequest):
            tokens.create(kwargs.pop("role"), kwargs.pop("name"), **kwargs)


def test_roles() -> None:
    assert Role.ADMIN.includes(Role.OPERATOR) and Role.OPERATOR.includes(Role.VIEWER)
    assert not Role.VIEWER.includes(Role.OPERATOR)
    with pytest.raises(Forbidden):
        Principal("v", Role.VIEWER).require(Role.OPERATOR)


# ---------------------------------------------------------------- aggregate status


def outcomes(*statuses: CommandStatus) -> list[AgentOutcome]:
    return [AgentOutcome(site_id="s1", status=s) for s in statuses]


def test_aggregate_status() -> None:
    s = CommandStatus
    assert aggregate_status(outcomes(s.SUCCEEDED, s.RUNNING)) is s.PENDING
    assert aggregate_status(outcomes(s.SUCCEEDED, s.SUCCEEDED)) is s.SUCCEEDED
    assert aggregate_status(outcomes(s.TIMED_OUT, s.TIMED_OUT)) is s.TIMED_OUT
    assert aggregate_status(outcomes(s.SUCCEEDED, s.TIMED_OUT)) is s.FAILED
    assert aggregate_status(outcomes(s.REJECTED, s.EXPIRED)) is s.FAILED
    assert aggregate_status([]) is s.PENDING


# ---------------------------------------------------------------- concurrent results


def test_racing_result_writers_both_land(cloud: Cloud) -> None:
    """Two sites report for one command at the same moment: the write that loses the optimistic lock re-reads
    and retries. (moto's conditional writes are not atomic across threads, so the race is staged: the
    clock, read between the load and the save, lets the other writer in.)"""
    cloud.heartbeat("s1", [online("a1")])
    cloud.heartbeat("s2", [online("b1")])
    cid = cloud.post("/api/commands", {"agent_ids": ["a1", "b1"], "command": "ping"}).json_body["data"]["command_id"]
    service = container.get().commands
    interleaved: list[int] = []
    now: float = cloud.clock.now

    def racing_clock() -> float:
        if not interleaved:
            interleaved.append(1)
            # another Lambda applies b1's result between our read and our write
            service.apply_results("s2", [build(AgentResult, request_id=cid, agent_id="b1", status=CommandStatus.FAILED,
                                                           error="disk full", timestamp=now)])
        return now

    container.configure(clock=racing_clock)
    service = container.get().commands
    report = service.apply_results("s1", [build(AgentResult, request_id=cid, agent_id="a1",
                                                            status=CommandStatus.SUCCEEDED, timestamp=now)])
    assert interleaved and report.applied == 1
    data = cloud.get(f"/api/commands/{cid}").json_body["data"]
    assert (data["results"]["a1"]["status"], data["results"]["b1"]["status"]) == ("succeeded", "failed")
    assert data["status"] == "failed"


def test_stale_write_is_refused(cloud: Cloud) -> None:
    from chalicelib.errors import StaleWrite
    from chalicelib.repositories import AgentRepository

    cloud.heartbeat("s1", [online("a1")])
    repo = AgentRepository("demo")
    first = repo.get("a1")
    assert first is not None
    repo.save(first)
    with pytest.raises(StaleWrite):
        repo.save(first)


def test_retry_stale_tries_again_only_after_a_lost_race() -> None:
    from chalicelib.errors import NotFound, StaleWrite
    from chalicelib.services.optimistic_writes import WRITE_ATTEMPTS, retry_stale

    calls: list[int] = []

    def wins_third(error: Exception) -> str:
        calls.append(1)
        if len(calls) < 3:
            raise error
        return "written"

    assert retry_stale(lambda: wins_third(StaleWrite("lost")), UpstreamError("gave up")) == "written"
    assert len(calls) == 3
    calls.clear()
    with pytest.raises(UpstreamError, match="gave up"):
        retry_stale(lambda: wins_third(StaleWrite("lost")), UpstreamError("gave up"), attempts=2)
    assert len(calls) == 2
    calls.clear()
    with pytest.raises(NotFound):  # anything but a lost race is not retried
        retry_stale(lambda: wins_third(NotFound("gone")), UpstreamError("gave up"))
    assert len(calls) == 1
    calls.clear()

    def always_loses() -> str:
        calls.append(1)
        raise StaleWrite("lost")

    with pytest.raises(UpstreamError):
        retry_stale(always_loses, UpstreamError("gave up"))
    assert len(calls) == WRITE_ATTEMPTS == 5


def test_create_tables_is_idempotent() -> None:
    with mock_aws():
        assert len(models.create_tables(SETTINGS)) == len(models.MODELS)
        assert models.create_tables(SETTINGS) == []


def test_dynamodb_outage_is_502_and_handlers_raise_for_a_retry(cloud: Cloud) -> None:
    """Unreachable DynamoDB: the API answers 502; a rule handler re-raises so Lambda retries the event."""
    down = Settings(tenant="demo", stage="test", region="us-east-1", aws_endpoint="http://127.0.0.1:9")
    container.configure(settings=down)
    response = cloud.get("/api/agents")
    assert response.status_code == 502
    assert response.json_body["error"]["code"] == "internal"
    with pytest.raises(UpstreamError):
        cloud.heartbeat("s1", [online("a1")])
    container.configure(settings=SETTINGS)


def test_admission_and_identity_settings() -> None:
    base = {"CLASSTOP_TENANT": "acme", "AWS_DEFAULT_REGION": "eu-west-1"}
    settings = Settings.from_env(base)
    assert (settings.client_policy, settings.lms_policy) == ("approval", "approval")
    assert settings.iot_site_policy == "classtop--acme--dev--site-policy" and settings.iot_site_thing_type is None
    custom = Settings.from_env({**base, "CLASSTOP_CLIENT_POLICY": "open", "CLASSTOP_LMS_POLICY": "closed",
                                "CLASSTOP_IOT_SITE_POLICY": "p1", "CLASSTOP_IOT_SITE_THING_TYPE": "t1"})
    assert (custom.client_policy, custom.lms_policy, custom.iot_site_policy, custom.iot_site_thing_type) == (
        "open", "closed", "p1", "t1")
    for name, value in (("CLASSTOP_CLIENT_POLICY", "sometimes"), ("CLASSTOP_LMS_POLICY", "OPEN"),
                        ("CLASSTOP_MAX_SNAPSHOT_BYTES", "500000"), ("CLASSTOP_IOT_SITE_POLICY", "bad name"),
                        ("CLASSTOP_ENROLMENT_TTL_S", "0")):
        with pytest.raises(ConfigError):
            Settings.from_env({**base, name: value})
