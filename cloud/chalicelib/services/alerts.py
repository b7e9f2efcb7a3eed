"""Alerts in the cloud (docs/alerts.md#in-the-cloud): the intake of a site's alert changes, the read side
(site-scoped), acknowledging, resolving a cloud alert, and silences.

An acknowledgement of a site's firing alert goes down to its LMS as a site order (``AlertAcknowledgement`` on
``down/alert_ack``, key ``ack#<alert_id>``): stored, published, and published again after the site's full
heartbeats until the LMS's record of that alert comes back acknowledged or resolved (docs/alerts.md).

Intake is idempotent and order-safe: a record is stored only over a lower ``seq`` of the same alert (one conditional
write), so an outbox resend or a reordering changes nothing and notifies nobody twice. A notification goes out
when an alert fires (unless flapping), stops flapping while firing, or resolves — not for an agent's or a camera's
alert while its site has an open cloud alert (the site alert stands for them), and not while a silence matches.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import msgspec

from chalicelib.domain.alert import Alert, AlertFilter, AlertOrigin, Silence
from chalicelib.domain.page import Page
from chalicelib.domain.site import Site
from chalicelib.domain.token import Principal
from chalicelib.errors import Conflict, NotFound
from chalicelib.repositories.alert import AlertRepository
from chalicelib.repositories.alert_setting import AlertSettingRepository
from chalicelib.repositories.site import SiteRepository
from chalicelib.services.alert_notifications import Notifier
from chalicelib.services.site_orders import SiteOrders, ack_key
from chalicelib.services.sites import visible_site
from shared.messages.enums import AlertState
from shared.topics import SiteDown

if TYPE_CHECKING:  # a site's alerts come as msgspec mirrors (site_alerts never loads pydantic)
    from shared.messages.structs import AlertRecord, SiteAlerts


@dataclass(frozen=True, slots=True)
class IntakeReport:
    applied: int = 0
    #: records at or below the stored ``seq`` (a resend or a late arrival): nothing changed
    ignored: int = 0
    notified: int = 0
    #: notifications held back: silenced, or an agent's alert while its site has an open cloud alert
    held: int = 0
    #: the site is unknown or retired: nothing stored
    refused: bool = False


def change_of(previous: Alert | None, record: AlertRecord) -> str | None:
    """What the applied ``record`` tells the channels: ``fired``, ``resolved`` or nothing."""
    if record.flapping:
        return None
    if record.state is AlertState.RESOLVED:
        return None if previous is not None and previous.record.state is AlertState.RESOLVED else "resolved"
    if record.state is AlertState.FIRING and (previous is None or previous.record.flapping):
        return "fired"
    return None


class AlertService:
    def __init__(self, alerts: AlertRepository, settings: AlertSettingRepository, sites: SiteRepository,
                 notifier: Notifier, clock: Callable[[], float], orders: SiteOrders | None = None) -> None:
        self._alerts = alerts
        self._orders = orders
        self._settings = settings
        self._sites = sites
        self._notifier = notifier
        self._clock = clock

    # ------------------------------------------------------------ intake

    def ingest(self, site_id: str, message: SiteAlerts) -> IntakeReport:
        site = self._sites.get(site_id)
        if site is None or site.retired_at is not None:
            return IntakeReport(refused=True)
        applied = ignored = notified = held = 0
        silences = self._settings.silences()
        site_down: bool | None = None
        for record in message.alerts:
            previous = self._alerts.get(record.alert_id)
            self._ack_answered(site_id, previous, record)
            if previous is not None and (previous.site_id != site_id or previous.record.seq >= record.seq):
                ignored += 1
                continue
            if not self._alerts.apply(site_id, record, AlertOrigin.SITE):
                ignored += 1
                continue
            applied += 1
            alert = Alert(site_id, record)
            change = change_of(previous, record)
            if change is None:
                continue
            if alert.agent_level and site_down is None:
                site_down = any(a.origin is AlertOrigin.CLOUD for a in self._alerts.open_of_site(site_id))
            if (alert.agent_level and site_down) or self._silenced(alert, silences):
                held += 1
                continue
            self.notify(alert, change)
            notified += 1
        return IntakeReport(applied, ignored, notified, held)

    def _ack_answered(self, site_id: str, previous: Alert | None, record: AlertRecord) -> None:
        """The site's record of an alert acknowledged in the cloud, no longer firing (also a resend at the same
        ``seq``: the LMS's answer when it had acknowledged or resolved it already): the order is done."""
        if (self._orders is not None and previous is not None and previous.site_id == site_id
                and previous.acked_by is not None and record.state is not AlertState.FIRING):  # fmt: skip
            self._orders.done(site_id, ack_key(record.alert_id))

    def notify(self, alert: Alert, change: str) -> None:
        self._notifier.notify(alert, change)

    def _silenced(self, alert: Alert, silences: list[Silence]) -> bool:
        now = self._clock()
        return any(s.matches(alert, now) for s in silences)

    def silenced(self, alert: Alert) -> bool:
        return self._silenced(alert, self._settings.silences())

    def digest(self) -> dict[str, int]:
        """The daily digest: the alerts opened in the last 24 hours, to the channels that take it."""
        alerts = self._alerts.since(self._clock() - 24 * 3600)
        report = self._notifier.digest(alerts)
        return {"alerts": len(alerts), "sent": report.sent, "failed": report.failed}

    # ------------------------------------------------------------ read side

    def page(self, principal: Principal, filters: AlertFilter, *, limit: int, cursor: str | None) -> Page[Alert]:
        if filters.site_id is not None and not principal.can_see_site(filters.site_id):
            return Page([])
        if filters.site_id is None and principal.site_ids is not None:
            if len(principal.site_ids) != 1:  # a scoped token lists one of its sites at a time, or all, filtered
                page = self._alerts.page(filters, limit=limit, cursor=cursor)
                return Page([a for a in page.items if principal.can_see_site(a.site_id)], page.cursor)
            filters = replace(filters, site_id=next(iter(principal.site_ids)))
        return self._alerts.page(filters, limit=limit, cursor=cursor)

    def get(self, alert_id: str, principal: Principal) -> Alert:
        alert = self._alerts.get(alert_id)
        if alert is None or not principal.can_see_site(alert.site_id):
            raise NotFound(f"unknown alert {alert_id}")
        return alert

    # ------------------------------------------------------------ acting on an alert

    def acknowledge(self, alert_id: str, principal: Principal) -> Alert:
        alert = self.get(alert_id, principal)
        if not alert.is_open:
            raise Conflict(f"alert {alert_id} is resolved")
        if alert.acked_by is None:
            now = self._clock()
            self._alerts.acknowledge(alert_id, principal.name, now)
            if (self._orders is not None and alert.origin is AlertOrigin.SITE
                    and alert.record.state is AlertState.FIRING):  # fmt: skip
                from shared.messages.alert import AlertAcknowledgement  # an order: the API's path

                order = AlertAcknowledgement(alert_id=alert_id, key=alert.record.key,
                                             acknowledged_by=principal.name[:120], acknowledged_at=now)  # fmt: skip
                self._orders.give(alert.site_id, ack_key(alert_id), SiteDown.ALERT_ACK, order)
        return self.get(alert_id, principal)

    def resolve(self, alert_id: str, principal: Principal) -> Alert:
        """Resolve a cloud alert by hand (its condition is evaluated again at the next run, and opens a new alert
        if it still holds). A site's alert resolves on its LMS, when its condition clears: 409."""
        alert = self.get(alert_id, principal)
        if alert.origin is not AlertOrigin.CLOUD:
            raise Conflict("a site's alert resolves on its LMS when its condition clears; acknowledge it instead")
        if not alert.is_open:
            return alert
        self.close(alert, f"resolved by {principal.name}")
        self._alerts.set_resolved_by(alert_id, principal.name)
        return self.get(alert_id, principal)

    def update(self, alert: Alert, *, flapping: bool, notify: str | None = None) -> Alert:
        """A cloud alert's flapping mark changed (the next ``seq``); ``notify``: the change to tell the channels."""
        record = msgspec.structs.replace(alert.record, seq=alert.record.seq + 1, flapping=flapping,
                                         changed_at=self._clock())  # fmt: skip
        changed = replace(alert, record=record)
        if self._alerts.apply(alert.site_id, record, AlertOrigin.CLOUD) and notify and not self.silenced(changed):
            self.notify(changed, notify)
        return changed

    def close(self, alert: Alert, message: str) -> Alert:
        """Resolve a cloud alert (the next ``seq``) and tell the channels."""
        now = self._clock()
        record = msgspec.structs.replace(alert.record, seq=alert.record.seq + 1, state=AlertState.RESOLVED,
                                         changed_at=now, resolved_at=now, message=message[:1024])
        closed = replace(alert, record=record)
        if self._alerts.apply(alert.site_id, record, AlertOrigin.CLOUD) and not self.silenced(closed):
            self.notify(closed, "resolved")
        return closed

    # ------------------------------------------------------------ silences

    def silences(self, principal: Principal) -> list[Silence]:
        now = self._clock()
        return [s for s in self._settings.silences()
                if s.ends_at > now and ((s.site_id is None and principal.site_ids is None)
                                        or (s.site_id is not None and principal.can_see_site(s.site_id)))]

    def add_silence(self, principal: Principal, *, site_id: str | None, rule_id: str | None, agent_id: str | None,
                    duration_s: float, comment: str) -> Silence:
        """A silence of the alerts matching every field given; a scoped caller must name one of its sites."""
        principal.require_named_site(site_id, "silence alerts")
        if site_id is not None:
            visible_site(self._sites, site_id, principal)
        now = self._clock()
        silence = Silence(uuid.uuid4().hex[:16], site_id, rule_id, agent_id, now, now + duration_s, principal.name,
                          comment)
        self._settings.save_silence(silence)
        return silence

    def silence_alert(self, alert_id: str, principal: Principal, duration_s: float, comment: str) -> Silence:
        """Silence one alert's rule on its target at its site."""
        alert = self.get(alert_id, principal)
        return self.add_silence(principal, site_id=alert.site_id, rule_id=alert.record.rule_id,
                                agent_id=alert.record.target.agent_id, duration_s=duration_s, comment=comment)

    def remove_silence(self, silence_id: str, principal: Principal) -> None:
        silence = next((s for s in self._settings.silences() if s.silence_id == silence_id), None)
        if silence is None or not (principal.can_see_site(silence.site_id) if silence.site_id is not None
                                   else principal.site_ids is None):
            raise NotFound(f"unknown silence {silence_id}")
        self._settings.delete_silence(silence_id)


def site_open(site: Site) -> bool:
    """Whether a site's alerts are evaluated (not retired, approved)."""
    return site.retired_at is None and site.approval.value == "approved"
