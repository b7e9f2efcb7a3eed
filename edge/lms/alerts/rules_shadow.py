"""The tenant's alert rules from the ``alerts:rules`` named shadow of the site's thing (docs/alerts.md).

Read as every named shadow of the site's thing is (:class:`edge.lms.named_shadow.NamedShadowReader`: the whole
``state.desired`` from ``get/accepted``, asked at every (re)connect, and ``update/documents``; ``get/rejected`` 404
-- no shadow -- means nothing desired, so no tenant rules; throttled gets asked again); it must be an
:class:`~shared.messages.alert.AlertRulesDocument`. A valid one is put in force and kept (across restarts, in
SQLite); an invalid one (or one that is not a shadow document at all) is refused and the rules in force stay.
Either way the outcome is reported through the outbox in the shadow's ``state.reported.rules_status``::

    {"state": "accepted" | "rejected" | "none", "version": <shadow version>, "rules": <count in force>,
     "reason": <why it was refused, or null>, "at": <epoch s>}
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError

from edge.lms.alerts.rule_book import RuleBook
from edge.lms.named_shadow import NamedShadowReader, ShadowPublisher
from shared import topics
from shared.messages.alert import AlertRulesDocument
from shared.messages.shadow import MAX_SHADOW_STATE_BYTES
from shared.names import Namespace
from shared.topics import ShadowOp

log = logging.getLogger(__name__)

STATUS_KEY = "rules_status"


class OutboxSink(Protocol):
    def put(self, topic: str, message: BaseModel | bytes) -> int: ...


class RulesShadowSync(NamedShadowReader):
    """The ``alerts:rules`` shadow: the tenant's rules put in force (or refused), the outcome reported."""

    def __init__(self, link: ShadowPublisher, outbox: OutboxSink, rules: RuleBook, *, namespace: Namespace,
                 site_id: str) -> None:  # fmt: skip
        super().__init__(link, thing=topics.site_thing_name(namespace, site_id),
                         shadow_name=topics.alert_rules_shadow_name(), is_mine=topics.is_alert_rules_shadow,
                         what="alert rules", worker="lms-alert-rules")  # fmt: skip
        self._outbox = outbox
        self._rules = rules
        self.accepted = 0
        self.rejected = 0

    def bad_document(self, op: ShadowOp, why: str) -> None:
        self._refuse(None, why[:900])

    def on_document(self, desired: dict[str, Any] | None, version: int | None, *, report: bool) -> None:
        try:
            document = AlertRulesDocument.model_validate(desired or {})
        except ValidationError as exc:
            self._refuse(version, "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())[:900])
            return
        self._rules.set_tenant(document, version)
        self.accepted += 1
        log.info("alert rules: %d tenant rules in force (shadow version %s)", len(document.rules), version)
        self._report("accepted" if document.rules else "none", version, None)

    def _refuse(self, version: int | None, reason: str) -> None:
        self.rejected += 1
        log.warning("alert rules: refused shadow version %s: %s", version, reason)
        self._report("rejected", version, reason)

    def _report(self, state: str, version: int | None, reason: str | None) -> None:
        status = {"state": state, "version": version, "rules": len(self._rules.tenant_rules()), "reason": reason,
                  "at": round(time.time(), 3)}  # fmt: skip
        payload = json.dumps({"state": {"reported": {STATUS_KEY: status}}}, separators=(",", ":")).encode()
        if len(payload) > MAX_SHADOW_STATE_BYTES:
            return
        self._outbox.put(topics.shadow(self.thing, ShadowOp.UPDATE, self._shadow), payload)
