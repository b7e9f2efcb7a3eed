"""Image health from the frames themselves: frozen (unchanged frames), covered (dark), blurred (no detail).

:class:`HealthMonitor` is fed frames with their (monotonic) times and returns the events to raise: pure
logic, no clock of its own. Each condition is reported once when it starts and once when it clears.

* **frozen**: the mean absolute difference between successive samples (grey, 1/4 scale) stays at or below
  ``FROZEN_EPSILON`` for ``frozen_s`` seconds — a hung capture repeats one buffer exactly;
* **covered**: mean brightness below ``dark_level`` for ``confirm_s`` seconds (the worker uses
  ``min(3 s, frozen_s)``) (a frozen black image counts
  as covered, not frozen);
* **blurred**: variance of the Laplacian below ``blur_level`` for ``confirm_s`` seconds (not when covered).
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.agent.camera.cv import Frame, cv2, np
from shared.messages.enums import Severity

FROZEN_EPSILON = 0.1
SAMPLE_PERIOD_S = 1.0  # measures taken once a second (cheap at 720p: ~1 % of a core)


@dataclass(frozen=True)
class HealthEvent:
    kind: str
    severity: Severity
    message: str
    data: dict[str, float]


class HealthMonitor:
    def __init__(
        self, *, frozen_s: float, dark_level: float, blur_level: float, confirm_s: float = 3.0
    ) -> None:
        self.frozen_s = frozen_s
        self.dark_level = dark_level
        self.blur_level = blur_level
        self.confirm_s = confirm_s
        self.previous: Frame | None = None
        self.last_sample = float("-inf")
        self.since: dict[str, float] = {}
        self.active: set[str] = set()
        self.measures: dict[str, float] = {}

    def feed(self, frame: Frame, now: float) -> list[HealthEvent]:
        if now - self.last_sample < SAMPLE_PERIOD_S:
            return []
        self.last_sample = now
        grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
        small = cv2.resize(grey, (max(1, grey.shape[1] // 4), max(1, grey.shape[0] // 4)),
                           interpolation=cv2.INTER_AREA)
        brightness = float(np.mean(small))
        _mean, std = cv2.meanStdDev(cv2.Laplacian(grey, cv2.CV_16S))
        sharpness = float(std[0][0]) ** 2
        change = float(np.mean(cv2.absdiff(small, self.previous))) if self.previous is not None \
            and self.previous.shape == small.shape else float("inf")
        self.previous = small
        self.measures = {"brightness": round(brightness, 2), "sharpness": round(sharpness, 2),
                         "change": round(change, 3) if change != float("inf") else -1.0}
        covered = brightness < self.dark_level
        conditions = {
            "covered": (covered, self.confirm_s),
            "blurred": (not covered and sharpness < self.blur_level, self.confirm_s),
            "frozen": (not covered and change <= FROZEN_EPSILON, self.frozen_s),
        }
        events: list[HealthEvent] = []
        for kind, (present, hold_s) in conditions.items():
            events.extend(self._track(kind, present, hold_s, now))
        return events

    def _track(self, kind: str, present: bool, hold_s: float, now: float) -> list[HealthEvent]:
        if not present:
            self.since.pop(kind, None)
            if kind in self.active:
                self.active.discard(kind)
                return [HealthEvent(f"cctv.{kind}_cleared", Severity.INFO, f"image no longer {kind}",
                                    dict(self.measures))]
            return []
        start = self.since.setdefault(kind, now)
        if kind not in self.active and now - start >= hold_s:
            self.active.add(kind)
            text = {
                "frozen": f"image unchanged for {now - start:.0f} s",
                "covered": f"image dark (mean brightness {self.measures['brightness']:.1f}): lens covered?",
                "blurred": f"image without detail (Laplacian variance {self.measures['sharpness']:.1f})",
            }[kind]
            return [HealthEvent(f"cctv.{kind}", Severity.WARNING, text, dict(self.measures))]
        return []

    def reset(self) -> list[HealthEvent]:
        """Forget the previous image (capture restarted); active conditions stay until frames say otherwise."""
        self.previous = None
        self.since.clear()
        return []
