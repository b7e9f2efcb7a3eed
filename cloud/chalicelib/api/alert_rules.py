"""The tenant's alert rules (docs/api.md#alert-rules; docs/alerts.md): ``GET /api/alert-rules``,
``GET/PUT/DELETE /api/alert-rules/{rule_id}`` (admin, every site: rules are the tenant's). A rule is validated with
the shared model (``shared.messages.alert.AlertRule``); a write answers which sites' ``alerts:rules`` shadows were
written and which failed."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from chalice.app import Response

from chalicelib import container
from chalicelib.api.http import ok
from chalicelib.api.routes import Access, Call, Router, Scope
from chalicelib.errors import BadRequest

if TYPE_CHECKING:
    from shared.messages.alert import AlertRule

api = Router(__name__, tag="alert-rules")


@api.route("GET", "/api/alert-rules", Access.VIEWER, Scope.LIST, "The tenant's alert rules (defaults until set)")
def list_rules(call: Call[None]) -> Response:
    rules = container.get().alert_rules.rules()
    return ok({"rules": [r.model_dump(mode="json") for r in rules], "count": len(rules)})


@api.route("GET", "/api/alert-rules/{rule_id}", Access.VIEWER, Scope.LIST, "One alert rule")
def get_rule(call: Call[None], rule_id: str) -> Response:
    return ok(container.get().alert_rules.get(rule_id).model_dump(mode="json"))


@api.route("PUT", "/api/alert-rules/{rule_id}", Access.ADMIN, Scope.TENANT,
           "Create or replace an alert rule (its rule_id must be the path's); written to every site's alerts:rules "
           "shadow", body="AlertRule",
           audit="alert_rule.put")
def put_rule(call: Call[AlertRule], rule_id: str) -> Response:
    if call.body.rule_id != rule_id:
        raise BadRequest(f"rule_id: the body names {call.body.rule_id!r}, the path {rule_id!r}")
    rule, report = container.get().alert_rules.put(call.body)
    return ok({"rule": rule.model_dump(mode="json"), **dataclasses.asdict(report)})


@api.route("DELETE", "/api/alert-rules/{rule_id}", Access.ADMIN, Scope.TENANT,
           "Delete an alert rule; written to every site's alerts:rules shadow", audit="alert_rule.delete")
def delete_rule(call: Call[None], rule_id: str) -> Response:
    report = container.get().alert_rules.delete(rule_id)
    return ok({"rule_id": rule_id, "deleted": True, **dataclasses.asdict(report)})
