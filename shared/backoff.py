"""Exponential backoff, the one way every retry loop of the system waits.

The n-th delay is capped at ``min(max_s, min_s * 2**(n-1))``; with ``jitter`` (the default) it is drawn uniformly
from the upper half of that cap ("equal jitter"), so that a site's agents, all cut off at the same moment, do not
come back in lockstep; without it the delay is the cap itself (a single process retrying a single peer).
:meth:`reset` after a success starts again from ``min_s``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

#: beyond this many doublings the cap cannot grow (and 2**n stays a small float)
_MAX_DOUBLINGS = 20


@dataclass
class Backoff:
    min_s: float
    max_s: float
    jitter: bool = True
    attempts: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if not 0 < self.min_s <= self.max_s:
            raise ValueError(f"backoff: need 0 < min_s <= max_s, not {self.min_s} and {self.max_s}")

    def next(self) -> float:
        """The delay before the next attempt (counts the attempt)."""
        self.attempts += 1
        cap = min(self.max_s, self.min_s * 2 ** min(self.attempts - 1, _MAX_DOUBLINGS))
        return float(cap / 2 + random.uniform(0, cap / 2)) if self.jitter else float(cap)

    def reset(self) -> None:
        self.attempts = 0
