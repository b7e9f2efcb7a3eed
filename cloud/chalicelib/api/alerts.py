"""Alerts (docs/api.md#alerts): ``GET /api/alerts`` (``?site_id=&state=&severity=&rule_id=&agent_id=&limit=
&cursor=``, newest first, the caller's sites only), ``GET /api/alerts/{alert_id}``, ``POST …/acknowledge``,
``POST …/resolve`` (a cloud alert), ``POST …/silence``; silences: ``GET/POST /api/alert-silences``,
``DELETE /api/alert-silences/{silence_id}``. Every act is audited."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice.app import Response

from chalicelib import container
from chalicelib.api.http import ok, query_int, query_str
from chalicelib.api.params import CURSOR, Query, limit
from chalicelib.api.routes import Access, Call, Router, Scope
from chalicelib.domain.alert import Alert, AlertFilter
from chalicelib.errors import BadRequest
from shared.messages.enums import AlertState, Severity
from shared.topics import ID_PATTERN, is_valid_id

if TYPE_CHECKING:
    from chalicelib.api.bodies.alerts import AckBody, SilenceAlertBody, SilenceBody

api = Router(__name__, tag="alerts")


def _choice(value: str | None, name: str, choices: list[str]) -> str | None:
    if value is not None and value not in choices:
        raise BadRequest(f"{name}: one of {', '.join(choices)}")
    return value


def _id(value: str | None, name: str) -> str | None:
    if value is not None and not is_valid_id(value):
        raise BadRequest(f"{name}: invalid {value[:80]!r}")
    return value


@api.route("GET", "/api/alerts", Access.VIEWER, Scope.LIST, "Alerts of the caller's sites, newest first",
           query=(Query("site_id", "only this site's alerts", pattern=ID_PATTERN),
                  Query("state", "only alerts in this state", enum=tuple(s.value for s in AlertState)),
                  Query("severity", "only alerts of this severity", enum=tuple(s.value for s in Severity)),
                  Query("rule_id", "only this rule's alerts", pattern=ID_PATTERN),
                  Query("agent_id", "only this agent's alerts", pattern=ID_PATTERN),
                  limit(100), CURSOR))
def list_alerts(call: Call[None]) -> Response:
    request = call.request
    state = _choice(query_str(request, "state"), "state", [s.value for s in AlertState])
    filters = AlertFilter(
        site_id=_id(query_str(request, "site_id"), "site_id"),
        state=None if state is None else AlertState(state),
        severity=_choice(query_str(request, "severity"), "severity", [s.value for s in Severity]),
        rule_id=_id(query_str(request, "rule_id"), "rule_id"),
        agent_id=_id(query_str(request, "agent_id"), "agent_id"),
    )
    page = container.get().alerts.page(call.principal, filters, limit=query_int(request, "limit", 100),
                                       cursor=query_str(request, "cursor"))
    return ok(page.to_dict("alerts", Alert.to_dict))


@api.route("GET", "/api/alerts/{alert_id}", Access.VIEWER, Scope.SITE, "One alert")
def get_alert(call: Call[None], alert_id: str) -> Response:
    return ok(container.get().alerts.get(alert_id, call.principal).to_dict())


@api.route("POST", "/api/alerts/{alert_id}/acknowledge", Access.OPERATOR, Scope.SITE,
           "Acknowledge an open alert (who and when are kept)", body="AckBody", body_optional=True,
           audit="alert.acknowledge")
def acknowledge_alert(call: Call[AckBody], alert_id: str) -> Response:
    return ok(container.get().alerts.acknowledge(alert_id, call.principal).to_dict())


@api.route("POST", "/api/alerts/{alert_id}/resolve", Access.OPERATOR, Scope.SITE,
           "Resolve a cloud alert by hand (a site's alert resolves on its LMS: 409)", body="AckBody",
           body_optional=True, responses={"409": "a site's alert: it resolves when its condition clears"},
           audit="alert.resolve")
def resolve_alert(call: Call[AckBody], alert_id: str) -> Response:
    return ok(container.get().alerts.resolve(alert_id, call.principal).to_dict())


@api.route("POST", "/api/alerts/{alert_id}/silence", Access.OPERATOR, Scope.SITE,
           "Silence an alert's rule on its target for a while", body="SilenceAlertBody",
           responses={"201": "the silence"}, audit="alert.silence")
def silence_alert(call: Call[SilenceAlertBody], alert_id: str) -> Response:
    silence = container.get().alerts.silence_alert(alert_id, call.principal, call.body.duration_s, call.body.comment)
    return ok(silence.to_dict(), 201)


@api.route("GET", "/api/alert-silences", Access.VIEWER, Scope.LIST, "Silences in force on the caller's sites")
def list_silences(call: Call[None]) -> Response:
    silences = container.get().alerts.silences(call.principal)
    return ok({"silences": [s.to_dict() for s in silences], "count": len(silences)})


@api.route("POST", "/api/alert-silences", Access.OPERATOR, Scope.NAMED,
           "Silence the notifications of matching alerts until it expires", body="SilenceBody",
           responses={"201": "the silence"}, audit="alert.silence")
def add_silence(call: Call[SilenceBody]) -> Response:
    body = call.body
    silence = container.get().alerts.add_silence(call.principal, site_id=body.site_id, rule_id=body.rule_id,
                                                 agent_id=body.agent_id, duration_s=body.duration_s,
                                                 comment=body.comment)  # fmt: skip
    return ok(silence.to_dict(), 201)


@api.route("DELETE", "/api/alert-silences/{silence_id}", Access.OPERATOR, Scope.SITE, "End a silence now",
           audit="alert.unsilence")
def remove_silence(call: Call[None], silence_id: str) -> Response:
    container.get().alerts.remove_silence(silence_id, call.principal)
    return ok({"silence_id": silence_id, "removed": True})
