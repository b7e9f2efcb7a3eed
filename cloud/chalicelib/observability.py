"""Structured logs and CloudWatch metrics of the cloud functions, the AWS way: aws-lambda-powertools.

**Logs.** In Lambda (``AWS_LAMBDA_FUNCTION_NAME`` is set) or with ``CLASSTOP_LOG_FORMAT=json``, :func:`configure`
makes every line of the ``chalicelib`` and ``shared`` loggers one JSON object through powertools' ``Logger``:
``level``, ``location``, ``message``, ``timestamp`` (UTC), ``service`` (``classtop-cloud``), ``name`` (the
logger), ``tenant`` and ``stage``; per invocation (:func:`invocation`, run by the app's middleware) the Lambda
context (``function_name``, ``function_request_id``, ``cold_start``...), API Gateway's request id as
``correlation_id``, and the ids the invocation concerns: a route's ``command_id``, ``site_id`` or ``agent_id``
path parameter, a rule event's ``site_id`` (:func:`bind`); and a record's extras
(``log.info("...", extra={"command_id": c, "agent_id": a})``), which win. The keys are the LMS's and the agent's
(:data:`shared.log_format.CONTEXT_KEYS`), so one CloudWatch Logs Insights query finds a command everywhere.
``CLASSTOP_LOG_FORMAT=text`` keeps Lambda's plain lines; the level is powertools' ``POWERTOOLS_LOG_LEVEL``
(default ``INFO``). Elsewhere (tests, the local twin) logging stays as the process set it up.

**Metrics** (:class:`Metric`) are CloudWatch embedded-metric-format lines (EMF: no API call, no IAM permission),
namespace :data:`METRICS_NAMESPACE`, dimensions ``service``, ``tenant`` and ``stage``, written once at the end of
an invocation and only when :func:`configure` enabled the JSON logs and ``CLASSTOP_APP_METRICS=on`` (the template
sets it with the operations dashboard that plots them: each is a custom metric CloudWatch bills $0.30 a month,
whether or not anyone looks; without them the same facts are in the JSON lines, for Logs Insights).
``docs/operations.md`` says what each means.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from enum import StrEnum
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:  # powertools loads when configure() enables it (in Lambda: at import, once)
    from aws_lambda_powertools.logging import Logger
    from aws_lambda_powertools.metrics import Metrics

    from chalicelib.adapters.iot import Publisher
    from chalicelib.domain.command import CommandRecord
    from shared.messages import CommandStatus

SERVICE = "classtop-cloud"
METRICS_NAMESPACE = "ClassTopFleet"
LOG_FORMAT_ENV = "CLASSTOP_LOG_FORMAT"
#: ``on``: write the app's metrics (EMF); anything else or unset: none
APP_METRICS_ENV = "CLASSTOP_APP_METRICS"
#: set by Lambda in every function's environment
LAMBDA_ENV = "AWS_LAMBDA_FUNCTION_NAME"
#: the loggers (and their children) whose lines become JSON: the app's own packages
LOGGERS = frozenset({"chalicelib", "shared"})
#: a route's path parameters that say what a request concerns, logged as keys of its lines
PATH_KEYS = ("command_id", "site_id", "agent_id")


class Metric(StrEnum):
    """The app's metrics (unit: count)."""

    #: a command published to a site (one per site a command targets)
    COMMANDS_SENT = "CommandsSent"
    #: a command that could not be published to a site (its agents are marked failed, the API answers 502)
    COMMAND_PUBLISH_FAILURES = "CommandPublishFailures"
    #: an agent's outcome of a command that has just finished, by outcome
    AGENT_COMMANDS_SUCCEEDED = "AgentCommandsSucceeded"
    AGENT_COMMANDS_FAILED = "AgentCommandsFailed"
    AGENT_COMMANDS_TIMED_OUT = "AgentCommandsTimedOut"
    AGENT_COMMANDS_EXPIRED = "AgentCommandsExpired"
    #: a site's message a rule handler dropped (not a valid message: logged, never retried)
    RULE_EVENTS_DROPPED = "RuleEventsDropped"


@functools.cache
def _outcomes() -> dict[CommandStatus, Metric]:
    """A command outcome's metric (shared.messages' command schemas load with the first command finished)."""
    from shared.messages import CommandStatus

    return {
        CommandStatus.SUCCEEDED: Metric.AGENT_COMMANDS_SUCCEEDED,
        CommandStatus.FAILED: Metric.AGENT_COMMANDS_FAILED,
        CommandStatus.REJECTED: Metric.AGENT_COMMANDS_FAILED,
        CommandStatus.TIMED_OUT: Metric.AGENT_COMMANDS_TIMED_OUT,
        CommandStatus.EXPIRED: Metric.AGENT_COMMANDS_EXPIRED,
    }


class _Telemetry:
    """The process's logger and metrics, made once by the first :func:`configure` (powertools keeps both per
    process); ``enabled`` while the app's loggers write through them."""

    def __init__(self) -> None:
        self.logger: Logger | None = None
        self.handler: logging.StreamHandler[IO[str]] | None = None
        self.metrics: Metrics | None = None
        self.enabled = False
        self.metrics_on = False
        self.cold = True


_telemetry = _Telemetry()


def wanted(environ: Mapping[str, str]) -> bool:
    """JSON logs and metrics: in Lambda unless ``CLASSTOP_LOG_FORMAT=text``, elsewhere if it says ``json``."""
    chosen = environ.get(LOG_FORMAT_ENV, "").strip().lower()
    return chosen == "json" or (chosen != "text" and bool(environ.get(LAMBDA_ENV)))


def configure(environ: Mapping[str, str] = os.environ, stream: IO[str] | None = None) -> bool:
    """Route the app's loggers through powertools' JSON ``Logger`` (on ``stream``, default stdout) and enable the
    metrics, if :func:`wanted`. Returns whether it did."""
    if not wanted(environ):
        return False
    from aws_lambda_powertools.logging import Logger
    from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
    from aws_lambda_powertools.metrics import Metrics

    keys = {"tenant": environ.get("CLASSTOP_TENANT"), "stage": environ.get("CLASSTOP_STAGE")}
    if _telemetry.logger is None:
        _telemetry.handler = logging.StreamHandler(stream or sys.stdout)
        _telemetry.logger = Logger(service=SERVICE, logger_handler=_telemetry.handler, utc=True, use_rfc3339=True)
        _telemetry.metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE)
    elif _telemetry.handler is not None:
        _telemetry.handler.setStream(stream or sys.stdout)
    _telemetry.logger.append_keys(**keys)
    assert _telemetry.metrics is not None
    _telemetry.metrics.set_default_dimensions(**{k: v for k, v in keys.items() if v})
    for name in LOGGERS:
        logging.getLogger(name)  # registered, so that powertools finds it
    copy_config_to_registered_loggers(source_logger=_telemetry.logger, include=set(LOGGERS))
    _telemetry.enabled = True
    _telemetry.metrics_on = environ.get(APP_METRICS_ENV, "").strip().lower() == "on"
    return True


def unconfigure() -> None:
    """Give the app's loggers back to the process's own logging set-up (tests)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(logging.NOTSET)
    if _telemetry.metrics is not None:
        _telemetry.metrics.clear_metrics()
    if _telemetry.logger is not None:
        _telemetry.logger.thread_safe_clear_keys()
    _telemetry.enabled = False
    _telemetry.metrics_on = False


def _lambda_keys(context: Any) -> dict[str, Any]:
    if context is None or not hasattr(context, "aws_request_id"):
        return {}
    cold, _telemetry.cold = _telemetry.cold, False
    return {
        "function_name": getattr(context, "function_name", None),
        "function_memory_size": getattr(context, "memory_limit_in_mb", None),
        "function_request_id": context.aws_request_id,
        "cold_start": cold,
    }


def bind(**keys: str | None) -> None:
    """Add keys to every line of the current invocation (e.g. a rule event's ``site_id`` once it is checked)."""
    if _telemetry.enabled and _telemetry.logger is not None:
        _telemetry.logger.thread_safe_append_keys(**{k: v for k, v in keys.items() if v is not None})


@contextmanager
def invocation(context: Any = None, **keys: str | None) -> Iterator[None]:
    """One invocation: its Lambda ``context`` and ``keys`` on every line, its metrics written at the end."""
    if _telemetry.enabled and _telemetry.logger is not None:
        _telemetry.logger.thread_safe_clear_keys()
        bind(**_lambda_keys(context), **keys)
    try:
        yield
    finally:
        flush()


def count(metric: Metric, value: int = 1) -> None:
    """Add ``value`` to ``metric`` (written at the end of the invocation)."""
    if _telemetry.metrics_on and _telemetry.metrics is not None and value:
        from aws_lambda_powertools.metrics import MetricUnit  # loaded by configure()

        _telemetry.metrics.add_metric(name=metric.value, unit=MetricUnit.Count, value=value)


def flush() -> None:
    """Write the invocation's metrics as one EMF line, if it counted any."""
    metrics = _telemetry.metrics
    if _telemetry.metrics_on and metrics is not None and metrics.metric_set:
        metrics.flush_metrics()


def command_finished(record: CommandRecord) -> None:
    """Count the per-agent outcomes of a command that has just finished."""
    for outcome in record.results.values():
        metric = _outcomes().get(outcome.status)
        if metric is not None:
            count(metric)


def middleware(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """The app's middleware for every kind of event (``app.middleware("all")``): :func:`invocation` around it.

    An HTTP request (Chalice's ``Request``) has the Lambda context as ``lambda_context`` and API Gateway's request
    context (``requestId``) as ``context``; every other event has the Lambda context as ``context``."""
    keys: dict[str, str | None] = {}
    if hasattr(event, "lambda_context"):
        context = event.lambda_context
        keys["correlation_id"] = (event.context or {}).get("requestId")
        params = event.uri_params or {}
        keys.update({key: params[key] for key in PATH_KEYS if isinstance(params.get(key), str)})
    else:
        context = getattr(event, "context", None)
    with invocation(context, **keys):
        return get_response(event)


class MeteredPublisher:
    """A :class:`Publisher` that counts the commands it publishes to sites (:data:`Metric.COMMANDS_SENT`) and
    those it could not."""

    def __init__(self, publisher: Publisher) -> None:
        from shared.topics import SiteDown  # built with the first service that publishes, not at import

        self._publisher = publisher
        self._command = f"/down/{SiteDown.COMMAND.value}"

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        command = topic.endswith(self._command)
        try:
            self._publisher.publish(topic, payload, qos)
        except Exception:
            if command:
                count(Metric.COMMAND_PUBLISH_FAILURES)
            raise
        if command:
            count(Metric.COMMANDS_SENT)
