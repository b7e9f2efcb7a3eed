"""Fuzz what reaches the LMS's alerting from outside: the tenant's ``alerts:rules`` shadow documents (through
:class:`~edge.lms.alerts.RulesShadowSync`, as the cloud link hands them over) and the rule API's bodies (through
:meth:`~edge.lms.alerts.RuleBook.put` after the API's own parsing).

The property: nothing raises; a document is either in force whole (and valid) or refused with a reason reported,
leaving the rules in force as they were; a rule body is stored whole or refused with an :class:`AlertError` or a
validation error, leaving the site rules as they were.
"""

from __future__ import annotations

import json
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from pydantic import ValidationError

from edge.lms.alerts import AlertError, RuleBook, RulesShadowSync, SiteLabels
from edge.lms.cloud import Outbox
from edge.lms.cloud.outbox_rows import OutboxRows
from edge.lms.store import Store
from shared.messages.alert import AlertRule, AlertRulesDocument
from shared.names import Namespace
from shared.topics import ShadowOp
from tests.fuzz.payloads import dumps, payloads
from tests.fuzz.tally import tally

RULE: dict[str, Any] = {"rule_id": "t-cpu", "name": "cpu", "severity": "warning",
        "condition": {"kind": "metric_threshold", "metric": "cpu_percent", "threshold": 90, "clear": 80, "for_s": 300},
        "scope": {"agents": ["pc-1"]}, "damping": {"window_s": 600, "max_changes": 3}}  # fmt: skip
GOOD: dict[str, Any] = {"state": {"desired": {"rules": [RULE]}}, "version": 4}


class Publisher:
    def publish(self, topic: str, payload: bytes, qos: int = 1) -> Future[None]:
        done: Future[None] = Future()
        done.set_result(None)
        return done


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Any:
    store = Store(Path(tmp_path_factory.mktemp("alerts")) / "lms.db").open()
    store.query("SELECT 1")
    with store.transaction() as conn:
        conn.execute("INSERT INTO agent_tags (agent_id, tag) VALUES ('pc-1', 'lab')")
    book = RuleBook(store, SiteLabels(store), site_id="school-1", known_agents=lambda: ["pc-1"]).load()
    sync = RulesShadowSync(Publisher(), Outbox(store), book, namespace=Namespace("demo", "dev"), site_id="school-1")
    yield store, book, sync
    store.close()


@given(payloads(GOOD, {"current": GOOD["state"] | {"version": 5}}))
@example(dumps({"state": {"desired": {"rules": [RULE] * 2}}, "version": 1}))
@example(b'{"state": {"desired": {"rules": [' + b"[" * 3000 + b"]" * 3000 + b"]}}}")
@example(b'{"state": {"desired": {"rules": [{"rule_id": "x", "condition": {"kind": "metric_threshold", '
         b'"metric": "cpu_percent", "threshold": NaN, "clear": 1}}]}}}')
def test_fuzz_alert_rules_shadow(site: Any, payload: bytes) -> None:
    tally("alerts:rules shadow")
    store, book, sync = site
    before = [r.model_dump() for r in book.tenant_rules()]
    queued = len(OutboxRows(store).peek(10_000))
    for op in (ShadowOp.GET_ACCEPTED, ShadowOp.UPDATE_DOCUMENTS):
        sync._seen = None
        sync.on_message(op, payload)
        rows = OutboxRows(store).peek(10_000)
        after = [r.model_dump() for r in book.tenant_rules()]
        if len(rows) > queued:
            status = json.loads(rows[-1].payload)["state"]["reported"]["rules_status"]
            if status["state"] == "rejected":
                assert status["reason"] and after == before
            else:
                AlertRulesDocument.model_validate({"rules": after})
        queued = len(rows)
        before = after


@given(payloads(RULE))
@example(dumps({**RULE, "condition": {**RULE["condition"], "for_s": -1}}))
@example(dumps({**RULE, "scope": {"tags": ["nope"]}}))
@example(dumps({**RULE, "condition": {"kind": "lms_offline"}}))
def test_fuzz_alert_rule_bodies(site: Any, payload: bytes) -> None:
    tally("alert rule API body")
    _store, book, _sync = site
    before = [r.model_dump() for r in book.site_rules()]
    try:
        rule = AlertRule.model_validate_json(payload)
    except (ValidationError, ValueError):
        assert [r.model_dump() for r in book.site_rules()] == before
        return
    try:
        book.put(rule, by="fuzz", create=rule.rule_id not in {r["rule_id"] for r in before})
    except AlertError as exc:
        assert exc.message and [r.model_dump() for r in book.site_rules()] == before
        return
    assert book.site_rule(rule.rule_id) == rule
    book.delete(rule.rule_id)
