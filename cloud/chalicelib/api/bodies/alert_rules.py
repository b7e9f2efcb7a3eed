"""The request bodies of the routes of ``chalicelib/api/alert_rules.py``: imported when one of them is first
called or the OpenAPI document is built (``api/routes.py``). The shared alert rule itself."""

from __future__ import annotations

from shared.messages.alert import AlertRule as AlertRule
