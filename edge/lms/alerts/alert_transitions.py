"""Alert transitions on the LMS: the tracks, and how an alert fires, turns flapping, is acknowledged and resolves
(the part of :class:`~edge.lms.alerts.evaluator.AlertEvaluator` that its inputs share).

Every change goes to the :class:`AlertSink` under the evaluator's one lock, in order. A firing is held back while
the target is in a maintenance window, and an agent's offline alert while the site broker is down; beyond
:data:`MAX_OPEN_ALERTS` new alerts are counted and dropped.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from edge.lms.alerts.alert_errors import AlertError
from edge.lms.alerts.alert_tracks import SITE_BROKER_DOWN, Track
from shared.messages.alert import AlertRecord, AlertState

#: Open alerts at once (beyond it new ones are counted and dropped: forged input cannot grow them without bound).
MAX_OPEN_ALERTS = 10_000


class AlertSink(Protocol):
    def alert_changed(self, record: AlertRecord, *, notify: bool) -> None: ...


@dataclass
class EvaluatorStats:
    samples: int = 0
    events: int = 0
    fired: int = 0
    resolved: int = 0
    dropped: int = 0  # over MAX_OPEN_ALERTS
    held_offline: int = 0  # agent offline alerts held back during a site broker outage


class AlertTransitions:
    """The tracks and their transitions; :class:`~edge.lms.alerts.evaluator.AlertEvaluator` adds the inputs."""

    def __init__(self, sink: AlertSink, *, clock: Callable[[], float],
                 in_maintenance: Callable[[str | None], bool]) -> None:  # fmt: skip
        self._sink = sink
        self._clock = clock
        self._in_maintenance = in_maintenance
        self._lock = threading.RLock()
        self._tracks: dict[str, Track] = {}
        #: (rule scope, rule id, agent id, camera id) -> the key of its track (no hashing on the hot path)
        self._keys: dict[tuple[str, str, str | None, str | None], str] = {}
        self._due: set[str] = set()  # tracks waiting for their for_s
        self._open = 0
        self._site_broker_up = True
        self._known_agents = 0
        self.stats = EvaluatorStats()

    @staticmethod
    def _tid(track: Track) -> tuple[str, str, str | None, str | None]:
        return track.spec.rule_scope, track.spec.rule_id, track.target.agent_id, track.target.camera_id

    def _add(self, track: Track) -> Track:
        self._tracks[track.key] = track
        self._keys[self._tid(track)] = track.key
        return track

    def _drop(self, key: str) -> None:
        track = self._tracks.pop(key, None)
        if track is not None:
            self._keys.pop(self._tid(track), None)
        self._due.discard(key)

    # ------------------------------------------------------------ transitions

    def _condition(self, track: Track, holds: bool, now: float) -> None:
        if holds:
            if track.alert is not None:
                track.held = False
                return
            if track.since is None:
                track.since = now
            if now - track.since >= track.spec.for_s:
                self._fire(track, now)
            else:
                self._due.add(track.key)
            return
        track.since = None
        self._due.discard(track.key)
        if track.alert is not None:
            self._clear(track, now)

    def _fire(self, track: Track, now: float) -> None:
        agent_id = track.target.agent_id
        if self._in_maintenance(agent_id):
            self._due.add(track.key)  # fires when the window ends, if it still holds
            return
        if track.spec.kind == "agent_offline" and not self._site_broker_up:
            self.stats.held_offline += 1
            self._due.add(track.key)
            return
        if self._open >= MAX_OPEN_ALERTS:
            self.stats.dropped += 1
            self._drop(track.key)
            return
        self._due.discard(track.key)
        track.since = None
        track.changes.append(now)
        flapping = track.spec.damping.flaps_at_firing(track.recent_changes(now))
        spec = track.spec
        covers = self._known_agents if spec.kind == SITE_BROKER_DOWN else None
        track.alert = AlertRecord(
            alert_id=secrets.token_hex(16), key=track.key, seq=1, rule_id=spec.rule_id,
            rule_scope=spec.rule_scope, rule_name=spec.name,
            severity=spec.severity, condition_kind=spec.kind, target=track.target, state=AlertState.FIRING,
            message=track.message[:1024], value=track.value, opened_at=now, changed_at=now, flapping=flapping,
            covers=covers,
        )  # fmt: skip
        self._open += 1
        self.stats.fired += 1
        self._sink.alert_changed(track.alert, notify=not flapping)

    def _clear(self, track: Track, now: float) -> None:
        alert = track.alert
        assert alert is not None
        if track.spec.damping.holds_at_clearing(alert.flapping, track.recent_changes(now)):
            track.held = True
            if not alert.flapping:
                self._update(track, now, flapping=True)
            return
        track.changes.append(now)
        self._resolve(track, now, notify=True)

    def _stable(self, track: Track, now: float) -> None:
        """A flapping alert stable for its window: resolved if its condition cleared, else plainly firing."""
        if track.held:
            track.held = False
            track.changes.append(now)
            self._resolve(track, now, notify=True)
        else:
            self._update(track, now, flapping=False)

    def _update(self, track: Track, now: float, **changes: object) -> None:
        alert = track.alert
        assert alert is not None
        track.alert = alert.model_copy(update={"seq": alert.seq + 1, "changed_at": now, **changes})
        self._sink.alert_changed(track.alert, notify=False)

    def _resolve(self, track: Track, now: float, *, notify: bool) -> None:
        alert = track.alert
        assert alert is not None
        resolved = alert.model_copy(update={
            "seq": alert.seq + 1, "state": AlertState.RESOLVED, "changed_at": now, "resolved_at": now,
            "message": track.message[:1024], "value": track.value, "flapping": False,
        })  # fmt: skip
        track.alert, track.held = None, False
        self._open -= 1
        self.stats.resolved += 1
        self._sink.alert_changed(resolved, notify=notify)

    # ------------------------------------------------------------ the API's

    def acknowledge(self, alert_id: str, by: str, at: float | None = None) -> AlertRecord:
        """Acknowledge an open alert (``at``: when, if not now — an acknowledgement made in the cloud); an
        acknowledged one is left as it is."""
        with self._lock:
            for track in self._tracks.values():
                alert = track.alert
                if alert is not None and alert.alert_id == alert_id:
                    if alert.state is AlertState.ACKNOWLEDGED:
                        return alert
                    now = self._clock()
                    self._update(track, now, state=AlertState.ACKNOWLEDGED, acknowledged_by=by[:128],
                                 acknowledged_at=now if at is None else at)  # fmt: skip
                    assert track.alert is not None
                    return track.alert
        raise AlertError(f"no open alert {alert_id}", 404)

    def open_alerts(self) -> list[AlertRecord]:
        with self._lock:
            return [t.alert for t in self._tracks.values() if t.alert is not None]
