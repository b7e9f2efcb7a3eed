"""The tenant's alerting set-up (``AlertSettingModel``): rules, silences, channels and failed webhook deliveries,
each kind read whole with one Query."""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

from chalicelib.domain.alert import Channel, ChannelKind, Delivery, QuietHours, Silence
from chalicelib.errors import NotFound
from chalicelib.models.alert_setting import AlertSettingModel
from chalicelib.repositories.base import dynamo_errors, expiry, read_item

if TYPE_CHECKING:  # the rules (pydantic) load when read or written, not with a site's alerts
    from shared.messages.alert import AlertRule

RULE, SILENCE, CHANNEL, DELIVERY, META, FLAPS = "rule", "silence", "channel", "delivery", "meta", "flaps"
_DEFAULTS = "default_rules_installed"
#: items of one kind read at most (rules: 30; channels and silences: tens; deliveries: see MAX_DELIVERIES)
MAX_ITEMS = 2000


class AlertSettingRepository:
    # ------------------------------------------------------------ rules

    def rules(self) -> list[AlertRule]:
        from shared.messages.alert import AlertRule

        return [AlertRule.model_validate_json(d) for d in self._all(RULE)]

    def save_rule(self, rule: AlertRule, at: float) -> None:
        self._save(RULE, rule.rule_id, rule.model_dump_json(), at)

    def delete_rule(self, rule_id: str) -> None:
        self._delete(RULE, rule_id, f"unknown alert rule {rule_id}")

    def defaults_installed(self) -> bool:
        return read_item(AlertSettingModel, META, _DEFAULTS, what="read the alert rules' state") is not None

    def mark_defaults_installed(self, at: float) -> None:
        self._save(META, _DEFAULTS, "{}", at)

    # ------------------------------------------------------------ silences

    def silences(self) -> list[Silence]:
        return [Silence(**json.loads(d)) for d in self._all(SILENCE)]

    def save_silence(self, silence: Silence) -> None:
        self._save(SILENCE, silence.silence_id, _json(dataclasses.asdict(silence)), silence.starts_at,
                   ttl=silence.ends_at)

    def delete_silence(self, silence_id: str) -> None:
        self._delete(SILENCE, silence_id, f"unknown silence {silence_id}")

    # ------------------------------------------------------------ channels

    def channels(self) -> list[Channel]:
        return [_channel(json.loads(d)) for d in self._all(CHANNEL)]

    def channel(self, channel_id: str) -> Channel | None:
        item = read_item(AlertSettingModel, CHANNEL, channel_id, what=f"read channel {channel_id}")
        return None if item is None else _channel(json.loads(item.data))

    def save_channel(self, channel: Channel) -> None:
        self._save(CHANNEL, channel.channel_id, _json(dataclasses.asdict(channel)), channel.created_at)

    def delete_channel(self, channel_id: str) -> None:
        self._delete(CHANNEL, channel_id, f"unknown channel {channel_id}")

    # ------------------------------------------------------------ webhook deliveries

    def deliveries(self) -> list[Delivery]:
        return [Delivery(**json.loads(d)) for d in self._all(DELIVERY)]

    def delivery(self, delivery_id: str) -> Delivery | None:
        item = read_item(AlertSettingModel, DELIVERY, delivery_id, what=f"read delivery {delivery_id}")
        return None if item is None else Delivery(**json.loads(item.data))

    def save_delivery(self, delivery: Delivery, keep_until: float) -> None:
        self._save(DELIVERY, delivery.delivery_id, _json(dataclasses.asdict(delivery)), delivery.next_at,
                   ttl=keep_until)

    def delete_delivery(self, delivery_id: str) -> None:
        with dynamo_errors(f"delete delivery {delivery_id}"):
            AlertSettingModel(DELIVERY, delivery_id).delete()

    # ------------------------------------------------------------ flap damping of the cloud's site alerts

    def flap_changes(self, site_id: str, rule_id: str) -> list[float]:
        """The recent firings and resolutions of the cloud's alert of ``rule_id`` on ``site_id`` (one GetItem)."""
        item = read_item(AlertSettingModel, FLAPS, f"{site_id}#{rule_id}", what=f"read the flaps of {site_id}")
        return [] if item is None else [float(t) for t in json.loads(item.data)]

    def save_flap_changes(self, site_id: str, rule_id: str, changes: list[float], at: float, keep_s: float) -> None:
        """Keep ``changes`` (DynamoDB's TTL removes them ``keep_s`` after ``at``: none counts any more)."""
        self._save(FLAPS, f"{site_id}#{rule_id}", json.dumps(changes), at, ttl=at + keep_s)

    # ------------------------------------------------------------ plumbing

    def _all(self, kind: str) -> list[str]:
        with dynamo_errors(f"read the alert {kind}s"):
            return [i.data for i in AlertSettingModel.query(kind, consistent_read=True, limit=MAX_ITEMS)]

    def _save(self, kind: str, item_id: str, data: str, at: float, ttl: float | None = None) -> None:
        item = AlertSettingModel(kind, item_id, at=at, data=data, ttl=None if ttl is None else expiry(ttl))
        with dynamo_errors(f"store alert {kind} {item_id}"):
            item.save()

    def _delete(self, kind: str, item_id: str, unknown: str) -> None:
        if read_item(AlertSettingModel, kind, item_id, what=f"read alert {kind} {item_id}") is None:
            raise NotFound(unknown)
        with dynamo_errors(f"delete alert {kind} {item_id}"):
            AlertSettingModel(kind, item_id).delete()


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), sort_keys=True)


def _channel(raw: dict[str, Any]) -> Channel:
    quiet = raw.pop("quiet_hours", None)
    return Channel(**{**raw, "kind": ChannelKind(raw["kind"]),
                      "quiet_hours": None if quiet is None else QuietHours(**quiet)})
