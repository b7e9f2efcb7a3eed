"""Site alerts (docs/alerts.md#on-the-lms; docs/api.md#alerts).

| path | who |
|---|---|
| ``GET /api/alerts?state=open|firing|acknowledged|resolved&agent=&rule=&severity=&since=&limit=`` | viewer |
| ``GET /api/alerts/summary`` | viewer: open and firing counts, evaluator and webhook figures |
| ``GET /api/alerts/{alert_id}`` | viewer |
| ``POST /api/alerts/{alert_id}/acknowledge`` | operator: firing → acknowledged (who, when) |
| ``GET /api/alerts/rules`` | viewer: the site's rules and the tenant's (from the cloud, read-only here) |
| ``POST /api/alerts/rules``, ``PUT|DELETE /api/alerts/rules/{rule_id}`` | admin: the site's rules |
| ``GET|POST /api/alerts/silences``, ``DELETE /api/alerts/silences/{id}`` | viewer / operator |
| ``GET|POST /api/alerts/maintenance``, ``DELETE /api/alerts/maintenance/{id}`` | viewer / operator |
| ``GET|PUT|DELETE /api/alerts/webhook`` | viewer / admin: the site webhook channel (never its secret) |
| ``POST /api/alerts/webhook/test`` | admin: one signed test delivery now |
| ``GET /api/alerts/webhook/deliveries?state=``, ``POST .../deliveries/{id}/retry`` | viewer / admin |

Every write is audited (``alert:*``). The evaluator itself is fed by the agents, never by this API: no route
creates an alert.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.responses import JSONResponse

from edge.lms.alerts import AlertError, Alerting, MaintenanceBody, SilenceBody, WebhookChannel
from edge.lms.api.authentication import AdminDep, OperatorDep, require_viewer
from edge.lms.api.errors import error_response
from edge.lms.api.openapi import errors
from edge.lms.api.path_ids import DIGITS_ONLY, RowId
from edge.lms.api.services import Services, ServicesDep
from shared.errors import ErrorCode
from shared.messages import Severity
from shared.messages.alert import AlertRule
from shared.topics import ID_PATTERN

#: every route answers 404 while alerting is off ([alerts] enabled = false), and for an unknown id
router = APIRouter(prefix="/api/alerts", tags=["alerts"], dependencies=[Depends(require_viewer)],
                   responses=errors(404))
_CODES = {404: ErrorCode.NOT_FOUND, 409: ErrorCode.CONFLICT}
AlertIdPath = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="the alert's id (32 hex digits)")]
RuleIdPath = Annotated[str, Path(pattern=ID_PATTERN, description="a site rule's id")]
DeliveryIdPath = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="a webhook delivery's id")]
SEVERITY_QUERY = Query(default=None, description="only this severity")
_DISABLED = "alerting is disabled on this LMS ([alerts] enabled = false)"


async def _refused(_request: Request, exc: Exception) -> JSONResponse:
    """An :class:`AlertError` from any route below, as its status and message (one place, not a try per route)."""
    assert isinstance(exc, AlertError)
    return error_response(exc.status, exc.message, _CODES.get(exc.status, ErrorCode.BAD_PAYLOAD))


def _alerting(services: Services) -> Alerting:
    if services.alerting is None:
        raise AlertError(_DISABLED, 404)
    return services.alerting


def _ok(data: Any) -> dict[str, Any]:
    return {"success": True, "data": data}


# ------------------------------------------------------------ rules (before /{alert_id})


@router.get("/rules", response_model=None)
async def list_rules(services: ServicesDep) -> dict[str, Any] | JSONResponse:
    rules = _alerting(services).rules
    return _ok({"site": [r.model_dump(mode="json") for r in rules.site_rules()],
                "tenant": [r.model_dump(mode="json") for r in rules.tenant_rules()],
                "tenant_version": rules.tenant_version})  # fmt: skip


@router.post("/rules", response_model=None, status_code=201, responses=errors(409))
async def create_rule(body: AlertRule, services: ServicesDep, principal: AdminDep) -> dict[str, Any] | JSONResponse:
    return _put_rule(body, services, principal.actor, principal.role.label, create=True)


@router.put("/rules/{rule_id}", response_model=None)
async def replace_rule(rule_id: RuleIdPath, body: AlertRule, services: ServicesDep,
                       principal: AdminDep) -> dict[str, Any] | JSONResponse:  # fmt: skip
    if body.rule_id != rule_id:
        return error_response(422, f"the body's rule_id {body.rule_id!r} is not the path's {rule_id!r}",
                              ErrorCode.BAD_PAYLOAD)  # fmt: skip
    return _put_rule(body, services, principal.actor, principal.role.label, create=False)


def _put_rule(
    body: AlertRule, services: Services, actor: str, role: str, *, create: bool
) -> dict[str, Any] | JSONResponse:
    action = "alert:rule_create" if create else "alert:rule_replace"
    try:
        rule = _alerting(services).rules.put(body, by=actor, create=create)
    except AlertError as exc:
        services.audit.record(actor, role, action, body.rule_id, f"refused: {exc.message}")
        raise
    services.audit.record(actor, role, action, rule.rule_id, "ok", {"kind": rule.condition.kind})
    return _ok(rule.model_dump(mode="json"))


@router.delete("/rules/{rule_id}", response_model=None)
async def delete_rule(rule_id: RuleIdPath, services: ServicesDep, principal: AdminDep) -> dict[str, Any] | JSONResponse:
    _alerting(services).rules.delete(rule_id)
    services.audit.record(principal.actor, principal.role.label, "alert:rule_delete", rule_id, "ok")
    return _ok({"rule_id": rule_id, "deleted": True})


# ------------------------------------------------------------ silences and maintenance


@router.get("/silences", response_model=None)
async def list_silences(services: ServicesDep) -> dict[str, Any] | JSONResponse:
    silences = _alerting(services).suppressions.silences()
    return _ok({"silences": silences, "count": len(silences)})


@router.post("/silences", response_model=None, status_code=201, responses=errors(409))
async def add_silence(
    body: SilenceBody, services: ServicesDep, principal: OperatorDep
) -> dict[str, Any] | JSONResponse:
    silence = _alerting(services).suppressions.add_silence(body, by=principal.actor)
    services.audit.record(principal.actor, principal.role.label, "alert:silence", str(silence["silence_id"]), "ok",
                          body.model_dump())  # fmt: skip
    return _ok(silence)


@router.delete("/silences/{silence_id}", response_model=None)
async def delete_silence(silence_id: RowId, services: ServicesDep,
                         principal: OperatorDep) -> dict[str, Any] | JSONResponse:  # fmt: skip
    _alerting(services).suppressions.delete_silence(silence_id)
    services.audit.record(principal.actor, principal.role.label, "alert:unsilence", str(silence_id), "ok")
    return _ok({"silence_id": silence_id, "deleted": True})


@router.get("/maintenance", response_model=None)
async def list_windows(services: ServicesDep) -> dict[str, Any] | JSONResponse:
    windows = _alerting(services).suppressions.windows()
    return _ok({"windows": windows, "count": len(windows)})


@router.post("/maintenance", response_model=None, status_code=201, responses=errors(409))
async def add_window(body: MaintenanceBody, services: ServicesDep,
                     principal: OperatorDep) -> dict[str, Any] | JSONResponse:  # fmt: skip
    window = _alerting(services).suppressions.add_window(body, by=principal.actor)
    services.audit.record(principal.actor, principal.role.label, "alert:maintenance", str(window["window_id"]), "ok",
                          body.model_dump(mode="json", exclude_none=True))  # fmt: skip
    return _ok(window)


@router.delete("/maintenance/{window_id}", response_model=None)
async def delete_window(window_id: RowId, services: ServicesDep,
                        principal: OperatorDep) -> dict[str, Any] | JSONResponse:  # fmt: skip
    _alerting(services).suppressions.delete_window(window_id)
    services.audit.record(principal.actor, principal.role.label, "alert:maintenance_delete", str(window_id), "ok")
    return _ok({"window_id": window_id, "deleted": True})


# ------------------------------------------------------------ the webhook channel


@router.get("/webhook", response_model=None)
async def get_webhook(services: ServicesDep) -> dict[str, Any] | JSONResponse:
    return _ok(_alerting(services).webhook.view())


@router.put("/webhook", response_model=None, responses=errors(409))
async def put_webhook(
    body: WebhookChannel, services: ServicesDep, principal: AdminDep
) -> dict[str, Any] | JSONResponse:
    try:
        channel = _alerting(services).webhook.set_channel(body)
    except AlertError as exc:
        services.audit.record(principal.actor, principal.role.label, "alert:webhook_put", None,
                              f"refused: {exc.message}")  # fmt: skip
        raise
    services.audit.record(principal.actor, principal.role.label, "alert:webhook_put", None, "ok",
                          channel.model_dump(mode="json"))  # fmt: skip
    return _ok(channel.model_dump(mode="json"))


@router.delete("/webhook", response_model=None)
async def delete_webhook(services: ServicesDep, principal: AdminDep) -> dict[str, Any] | JSONResponse:
    _alerting(services).webhook.delete_channel()
    services.audit.record(principal.actor, principal.role.label, "alert:webhook_delete", None, "ok")
    return _ok({"deleted": True})


@router.post("/webhook/test", response_model=None, responses=errors(409, 422))
async def test_webhook(services: ServicesDep, principal: AdminDep) -> dict[str, Any] | JSONResponse:
    outcome = await asyncio.to_thread(_alerting(services).webhook.test)
    services.audit.record(principal.actor, principal.role.label, "alert:webhook_test", None,
                          "ok" if outcome.get("delivered") else "failed", outcome)  # fmt: skip
    return _ok(outcome)


@router.get("/webhook/deliveries", response_model=None)
async def deliveries(
    services: ServicesDep,
    state: Literal["pending", "sent", "dead", "quiet"] | None = Query(default=None, description="only these"),
    limit: Annotated[int, Query(ge=1, le=1000), DIGITS_ONLY] = 100,
) -> dict[str, Any] | JSONResponse:
    rows = _alerting(services).webhook.deliveries(state, limit)
    return _ok({"deliveries": rows, "count": len(rows)})


@router.post("/webhook/deliveries/{delivery_id}/retry", response_model=None)
async def retry_delivery(delivery_id: DeliveryIdPath, services: ServicesDep,
                         principal: AdminDep) -> dict[str, Any] | JSONResponse:  # fmt: skip
    _alerting(services).webhook.retry(delivery_id)
    services.audit.record(principal.actor, principal.role.label, "alert:delivery_retry", delivery_id, "ok")
    return _ok({"delivery_id": delivery_id, "state": "pending"})


# ------------------------------------------------------------ alerts


@router.get("", response_model=None)
async def list_alerts(
    services: ServicesDep,
    state: Literal["open", "firing", "acknowledged", "resolved"] | None = Query(default=None),
    agent: str | None = Query(default=None, pattern=ID_PATTERN, description="only this agent's alerts"),
    rule: str | None = Query(default=None, pattern=ID_PATTERN, description="only this rule's alerts"),
    severity: Severity | None = SEVERITY_QUERY,
    since: float | None = Query(default=None, ge=0, description="changed at or after this time (epoch s)"),
    limit: Annotated[int, Query(ge=1, le=1000), DIGITS_ONLY] = 100,
) -> dict[str, Any] | JSONResponse:
    rows = _alerting(services).book.list(state=state, agent_id=agent, rule_id=rule,
                                         severity=severity.value if severity else None, since=since, limit=limit)
    return _ok({"alerts": rows, "count": len(rows)})


@router.get("/summary", response_model=None)
async def summary(services: ServicesDep) -> dict[str, Any] | JSONResponse:
    return _ok(_alerting(services).summary())


@router.get("/{alert_id}", response_model=None)
async def get_alert(alert_id: AlertIdPath, services: ServicesDep) -> dict[str, Any] | JSONResponse:
    record = _alerting(services).book.get(alert_id)
    if record is None:
        return error_response(404, f"no alert {alert_id}", ErrorCode.NOT_FOUND)
    return _ok(record.model_dump(mode="json"))


@router.post("/{alert_id}/acknowledge", response_model=None)
async def acknowledge(alert_id: AlertIdPath, services: ServicesDep,
                      principal: OperatorDep) -> dict[str, Any] | JSONResponse:  # fmt: skip
    record = _alerting(services).evaluator.acknowledge(alert_id, principal.actor)
    services.audit.record(principal.actor, principal.role.label, "alert:acknowledge", alert_id, "ok")
    return _ok(record.model_dump(mode="json"))


def install(app: FastAPI, services: Services) -> None:
    app.add_exception_handler(AlertError, _refused)
    app.include_router(router)
