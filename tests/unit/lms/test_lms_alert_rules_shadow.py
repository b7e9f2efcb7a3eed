"""The tenant's rules from the ``alerts:rules`` shadow (edge.lms.alerts.rules_shadow): a valid document is put in
force, kept across restarts and reported accepted through the real outbox; a bad one is refused with the reason
and the rules in force stay; no shadow means no tenant rules; rules for other sites or for the cloud only are not
evaluated here."""

from __future__ import annotations

import json
from concurrent.futures import Future
from typing import Any

from edge.lms.alerts import RuleBook, RulesShadowSync, SiteLabels
from edge.lms.cloud import Outbox
from edge.lms.cloud.outbox_rows import OutboxRows
from edge.lms.store import Store
from shared import topics
from shared.names import Namespace
from shared.topics import ShadowOp

NS = Namespace("demo", "dev")
THING = topics.site_thing_name(NS, "school-1")


class Publisher:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> Future[None]:
        self.sent.append((topic, payload))
        done: Future[None] = Future()
        done.set_result(None)
        return done


def rule(rule_id: str, **kw: Any) -> dict[str, Any]:
    return {"rule_id": rule_id, "name": rule_id, "condition": {"kind": "agent_offline", "for_s": 600}, **kw}


def make(store: Store) -> tuple[RulesShadowSync, RuleBook]:
    book = RuleBook(store, SiteLabels(store), site_id="school-1", known_agents=lambda: []).load()
    return RulesShadowSync(Publisher(), Outbox(store), book, namespace=NS, site_id="school-1"), book


def reports(store: Store) -> list[dict[str, Any]]:
    shadow_topic = topics.shadow(THING, ShadowOp.UPDATE, topics.ALERT_RULES_SHADOW)
    rows = OutboxRows(store).peek(100)
    return [json.loads(r.payload)["state"]["reported"]["rules_status"] for r in rows if r.topic == shadow_topic]


def accepted(desired: Any, version: int = 1) -> bytes:
    return json.dumps({"state": {"desired": desired}, "version": version}).encode()


def test_a_valid_document_is_in_force_kept_and_reported(store: Store) -> None:
    sync, book = make(store)
    doc = {"rules": [rule("t-off"), rule("t-other-site", scope={"sites": ["school-2"]}),
                     rule("t-lms", condition={"kind": "lms_offline"})]}  # fmt: skip
    sync.on_message(ShadowOp.GET_ACCEPTED, accepted(doc, 7))
    assert [r.rule_id for r in book.tenant_rules()] == ["t-off", "t-other-site", "t-lms"]
    assert [(a.rule.rule_id, a.scope) for a in book.active() if a.scope == "tenant"] == [("t-off", "tenant")]
    assert reports(store)[-1] | {"at": 0} == {"state": "accepted", "version": 7, "rules": 3, "reason": None, "at": 0}
    again = RuleBook(store, SiteLabels(store), site_id="school-1", known_agents=lambda: []).load()
    assert [r.rule_id for r in again.tenant_rules()] == ["t-off", "t-other-site", "t-lms"]
    assert again.tenant_version == 7


def test_a_bad_document_is_refused_with_the_reason_and_changes_nothing(store: Store) -> None:
    sync, book = make(store)
    sync.on_message(ShadowOp.GET_ACCEPTED, accepted({"rules": [rule("ok")]}, 1))
    bad = {"rules": [rule("ok", condition={"kind": "metric_threshold", "metric": "temperature", "threshold": 1,
                                           "clear": 0})]}  # fmt: skip
    documents = {"current": {"state": {"desired": bad}, "version": 2}}
    sync.on_message(ShadowOp.UPDATE_DOCUMENTS, json.dumps(documents).encode())
    last = reports(store)[-1]
    assert last["state"] == "rejected" and last["version"] == 2 and "metric" in last["reason"]
    assert [r.rule_id for r in book.tenant_rules()] == ["ok"]
    for payload in (b"not json", b"[]", json.dumps({"state": 5}).encode(), b"{" * 70_000):
        sync.on_message(ShadowOp.GET_ACCEPTED, payload)
        assert reports(store)[-1]["state"] == "rejected"
    assert [r.rule_id for r in book.tenant_rules()] == ["ok"]
    too_many = {"rules": [rule(f"r{i}") for i in range(31)]}
    sync.on_message(ShadowOp.GET_ACCEPTED, accepted(too_many, 3))
    assert reports(store)[-1]["state"] == "rejected" and len(book.tenant_rules()) == 1


def test_no_shadow_means_no_tenant_rules(store: Store) -> None:
    sync, book = make(store)
    sync.on_message(ShadowOp.GET_ACCEPTED, accepted({"rules": [rule("ok")]}, 1))
    sync.on_message(ShadowOp.GET_REJECTED, json.dumps({"code": 404, "message": "no shadow"}).encode())
    assert book.tenant_rules() == [] and reports(store)[-1]["state"] == "none"


def test_only_this_sites_alert_rules_shadow_is_taken(store: Store) -> None:
    sync, _book = make(store)
    other = topics.shadow(topics.site_thing_name(NS, "school-2"), ShadowOp.GET_ACCEPTED, topics.ALERT_RULES_SHADOW)
    config = topics.shadow(THING, ShadowOp.GET_ACCEPTED, topics.lms_config_shadow_name())
    mine = topics.shadow(THING, ShadowOp.GET_ACCEPTED, topics.ALERT_RULES_SHADOW)
    for topic in (other, config, "not/a/topic", mine):
        sync.handle(topic, b"{}")
    assert sync._queue.qsize() == 1
