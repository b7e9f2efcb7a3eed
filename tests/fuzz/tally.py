"""Cases each fuzz test ran (printed at the end of the run: ``make fuzz`` quotes them)."""

from __future__ import annotations

from collections import Counter

CASES: Counter[str] = Counter()


def tally(interface: str) -> None:
    CASES[interface] += 1
