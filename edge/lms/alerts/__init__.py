"""Alerts on the LMS (docs/alerts.md#on-the-lms): site rules and the tenant's (``alerts:rules``), an incremental
evaluator with durations, hysteresis, scopes, maintenance windows, silences, deduplication and flap damping,
alert history, the site webhook, and every alert change to the cloud through the outbox.

* :mod:`.rule_book` — site rules (CRUD, defaults) and tenant rules; scopes;
* :mod:`.evaluator` with :mod:`.alert_transitions` and :mod:`.alert_tracks` — the evaluation;
* :mod:`.alert_rows` — the tables and the alert book; :mod:`.suppressions` — silences, maintenance windows;
* :mod:`.site_webhook` — the signed webhook; :mod:`.rules_shadow` — the tenant's rules from the cloud;
* :mod:`.class_periods` — ClassTop timetables; :mod:`.alerting` — all of it wired (:class:`Alerting`);
* :mod:`.cloud_acknowledgements` — acknowledgements made in the cloud.
"""

from __future__ import annotations

from edge.lms.alerts.alert_errors import AlertError
from edge.lms.alerts.alert_rows import ALERT_TABLES_V14, AlertBook
from edge.lms.alerts.alert_transitions import MAX_OPEN_ALERTS, AlertSink
from edge.lms.alerts.alerting import Alerting
from edge.lms.alerts.cloud_acknowledgements import CloudAcknowledgements
from edge.lms.alerts.evaluator import AlertEvaluator
from edge.lms.alerts.rule_book import ActiveRule, RuleBook, SiteLabels, default_rules
from edge.lms.alerts.rules_shadow import RulesShadowSync
from edge.lms.alerts.site_webhook import QuietHours, SiteWebhook, WebhookChannel, check_webhook_url, load_secret
from edge.lms.alerts.suppressions import MaintenanceBody, SilenceBody, Suppressions

__all__ = [
    "ALERT_TABLES_V14",
    "MAX_OPEN_ALERTS",
    "ActiveRule",
    "AlertBook",
    "AlertError",
    "AlertEvaluator",
    "AlertSink",
    "Alerting",
    "CloudAcknowledgements",
    "MaintenanceBody",
    "QuietHours",
    "RuleBook",
    "RulesShadowSync",
    "SilenceBody",
    "SiteLabels",
    "SiteWebhook",
    "Suppressions",
    "WebhookChannel",
    "check_webhook_url",
    "default_rules",
    "load_secret",
]
