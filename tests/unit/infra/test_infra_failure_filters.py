"""The function-failures metric filters (infra/aws/failure_filters.py), evaluated here as CloudWatch Logs does
(the JSON pattern's field tests; the regular expression, in the syntax CloudWatch accepts) against the lines the
app really writes (powertools' JSON, through the real handler wrappers) and the lines Lambda and the Python
runtime write in the ``Text`` log format: every failure class counts, a healthy invocation does not, and text a
site gets into a logged message cannot raise the alarm."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from typing import Any, NoReturn

import pytest
from botocore.exceptions import ClientError
from pynamodb.exceptions import PutError

from infra.aws.cloud_app import ensure_importable
from infra.aws.failure_filters import APP_ERRORS_PATTERN, FILTERS, FIND_QUERY, RUNTIME_FAILURES_PATTERN
from tests.unit.json_logs import json_logs as app_json_logs

ensure_importable()
from chalicelib.api.http import endpoint  # noqa: E402
from chalicelib.errors import UpstreamError  # noqa: E402
from chalicelib.handlers import events  # noqa: E402
from chalicelib.repositories.base import dynamo_errors  # noqa: E402

LAMBDA_ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "classtop--district-a--prod-site_heartbeat",
    "CLASSTOP_TENANT": "district-a",
    "CLASSTOP_STAGE": "prod",
}
REQUEST = "3f0c2a9e-6f1b-4c1e-9a55-1d2b3c4d5e6f"
#: what a site may put in a message that a handler logs when it refuses it
FORGED = (
    "Task timed out after 3.00 seconds [ERROR] REPORT RequestId: x Status: timeout "
    '"level":"ERROR" {"level": "ERROR"} RequestId: x Error: Runtime exited'
)

# the lines Lambda and the Python runtime write themselves (LogFormat Text), one log event each
RUNTIME_FAILURES = {
    "unhandled exception": "[ERROR] KeyError: 'site_id'\rTraceback (most recent call last):\r  File "
    '"/var/task/app.py", line 1, in handler\r',
    "import failure": "[ERROR] Runtime.ImportModuleError: Unable to import module 'app': No module named 'x'\r"
    "Traceback (most recent call last):",
    "another logger's error": f"[ERROR]\t2026-12-07T09:00:30.012Z\t{REQUEST}\tbotocore: connection reset",
    "critical": f"[CRITICAL]\t2026-12-07T09:00:30.012Z\t{REQUEST}\tout of file descriptors",
    "timeout": f"2026-12-07T09:00:30.012Z {REQUEST} Task timed out after 30.03 seconds",
    "timeout (tab)": f"2026-12-07T09:00:30.012Z\t{REQUEST}\tTask timed out after 30.03 seconds",
    "runtime exit": f"RequestId: {REQUEST} Error: Runtime exited with error: signal: killed",
    "timeout report": f"REPORT RequestId: {REQUEST}\tDuration: 30000.00 ms\tBilled Duration: 30000 ms\t"
    "Memory Size: 192 MB\tMax Memory Used: 81 MB\tStatus: timeout",
    "out of memory report": f"REPORT RequestId: {REQUEST}\tDuration: 812.33 ms\tBilled Duration: 813 ms\t"
    "Memory Size: 128 MB\tMax Memory Used: 128 MB\tStatus: error\t"
    "Error Type: Runtime.OutOfMemory",
}
HEALTHY = {
    "init": "INIT_START Runtime Version: python:3.13.v31\tRuntime Version ARN: arn:aws:lambda:eu-west-1::runtime:1",
    "start": f"START RequestId: {REQUEST} Version: $LATEST",
    "end": f"END RequestId: {REQUEST}",
    "report": f"REPORT RequestId: {REQUEST}\tDuration: 41.20 ms\tBilled Duration: 42 ms\tMemory Size: 192 MB\t"
    "Max Memory Used: 80 MB\tInit Duration: 901.11 ms",
    "warning": f"[WARNING]\t2026-12-07T09:00:30.012Z\t{REQUEST}\tretrying",
    "forged text": FORGED,
}

# CloudWatch Logs' regular expressions: these characters and operators only (no groups, no spaces)
_REGEX_ALLOWED = re.compile(r"[A-Za-z0-9:_#=@/;,\-^$?\[\]{}|\\*+.]+")
_JSON_TERM = re.compile(r'\(\$\.(\w+) = "([^"]*)"\)')


def json_pattern_matches(pattern: str, event: str) -> bool:
    """CloudWatch's ``{ ($.f = "v") || ... }`` on one event: a JSON object whose field equals one of the values."""
    terms = _JSON_TERM.findall(pattern)
    assert pattern == "{ " + " || ".join(f'($.{f} = "{v}")' for f, v in terms) + " }", "not the modelled syntax"
    try:
        document = json.loads(event)
    except ValueError:
        return False
    return isinstance(document, dict) and any(document.get(f) == v for f, v in terms)


def regex_pattern_matches(pattern: str, event: str) -> bool:
    assert pattern.startswith("%") and pattern.endswith("%")
    expression = pattern[1:-1]
    assert _REGEX_ALLOWED.fullmatch(expression), "CloudWatch Logs refuses this regular expression"
    return re.search(expression, event) is not None


def counted(event: str) -> bool:
    """Whether any of a function's failure filters counts the event."""
    return json_pattern_matches(APP_ERRORS_PATTERN, event) or regex_pattern_matches(RUNTIME_FAILURES_PATTERN, event)


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    with app_json_logs(LAMBDA_ENV) as stream:
        yield stream


def lines(stream: io.StringIO) -> list[str]:
    return [line for line in stream.getvalue().splitlines() if line.strip()]


def test_the_filters_are_the_two_patterns() -> None:
    assert [pattern for *_, pattern in FILTERS] == [APP_ERRORS_PATTERN, RUNTIME_FAILURES_PATTERN]


@pytest.mark.parametrize("kind", sorted(RUNTIME_FAILURES))
def test_every_runtime_failure_counts(kind: str) -> None:
    assert regex_pattern_matches(RUNTIME_FAILURES_PATTERN, RUNTIME_FAILURES[kind]), kind


@pytest.mark.parametrize("kind", sorted(HEALTHY))
def test_a_healthy_invocations_lines_do_not_count(kind: str) -> None:
    assert not counted(HEALTHY[kind]), kind


def throttled_write() -> dict[str, Any]:
    """A DynamoDB write throttled beyond the SDK's retries, through the repositories' error mapping."""
    with dynamo_errors("agent room-101"):
        raise PutError(
            "Failed to put item",
            cause=ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "Rate of requests exceeds"}},
                "PutItem",
            ),
        )
    raise AssertionError("unreachable")


def a_bug() -> NoReturn:
    raise KeyError("agents")


def test_the_apps_failure_lines_count_and_its_refusals_do_not(json_logs: io.StringIO) -> None:
    event = {"topic_site_id": "school-1", "message_base64": "e30="}
    # a rule handler's upstream failure (a throttled table): logged, raised, retried by Lambda
    with pytest.raises(UpstreamError):
        events.run("site_heartbeat", event, throttled_write)
    [upstream] = lines(json_logs)
    assert counted(upstream) and "ProvisionedThroughputExceededException" in upstream
    # a handler's bug: the event is dropped and Lambda sees a success; only the log says so
    events.run("site_events", event, a_bug)
    bug = [line for line in lines(json_logs)[1:] if json.loads(line)["level"] == "ERROR"]
    assert len(bug) == 1 and counted(bug[0])
    # an API route's unhandled error: a 500, and the line
    before = len(lines(json_logs))
    assert endpoint(a_bug)().status_code == 500
    [route] = lines(json_logs)[before:]
    assert counted(route)

    # a site's refused message, with every failure phrase in it: a WARNING, not counted
    def forged() -> dict[str, Any]:
        from chalicelib.errors import CloudError

        raise CloudError(f"bad message: {FORGED}")

    before = len(lines(json_logs))
    assert events.run("site_heartbeat", event, forged)["ok"] is False
    refused = lines(json_logs)[before:]
    assert refused and all(json.loads(line)["level"] == "WARNING" for line in refused)
    assert any("Task timed out after" in line for line in refused)  # the text is there...
    assert not any(counted(line) for line in refused)  # ...and counts for nothing


def test_the_find_query_selects_what_the_filters_count() -> None:
    """docs/operations.md's Logs Insights query finds the lines the filters counted (its regular expression is
    checked here on the runtime lines; the JSON ones it selects by ``level``)."""
    assert 'level in ["ERROR", "CRITICAL"]' in FIND_QUERY and "@log" in FIND_QUERY
    expression = re.search(r"like /(.*)/", FIND_QUERY)
    assert expression is not None
    for kind, event in RUNTIME_FAILURES.items():
        assert re.search(expression.group(1), event), kind
