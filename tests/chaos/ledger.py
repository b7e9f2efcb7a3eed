"""The chaos run's ledger: what was sent (:class:`Sent`), the faults injected (:class:`Fault`), and the counts per
fault kind (:class:`Row`, :class:`Ledger`) with their table."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field


@dataclass
class Sent:
    command_id: str
    agent_id: str
    marker: str
    at: float  # time.monotonic() when the cloud API took it


@dataclass
class Fault:
    kind: str
    injected_at: float
    recover_s: float | None = None


#: the ledger's counts, in the table's order
COUNTS = ("faults", "commands", "lost", "run_twice", "no_terminal", "interrupted", "progress_lost",
          "progress_out_of_order", "events", "events_lost", "events_dup", "events_out_of_order")


@dataclass
class Row:
    kind: str
    faults: int = 0
    commands: int = 0
    lost: int = 0
    run_twice: int = 0
    no_terminal: int = 0
    interrupted: int = 0
    progress_lost: int = 0
    progress_out_of_order: int = 0
    events: int = 0
    events_lost: int = 0
    events_dup: int = 0
    events_out_of_order: int = 0
    recover: list[float] = field(default_factory=list)

    def cells(self) -> list[str]:
        p50 = f"{statistics.median(self.recover):.1f}" if self.recover else "-"
        top = f"{max(self.recover):.1f}" if self.recover else "-"
        counts = [getattr(self, name) for name in COUNTS]
        return [self.kind, *(str(c) for c in counts), p50, top]

    @property
    def failures(self) -> int:
        """What the run must not have: commands lost, run twice or unfinished; progress or events lost, duplicated
        or out of order."""
        return sum(getattr(self, name) for name in COUNTS if name not in ("faults", "commands", "interrupted",
                                                                          "events"))


@dataclass
class Ledger:
    rows: dict[str, Row]
    settings_unapplied: list[str]
    details: list[str]
    integrity: str = "ok"  # the LMS's database after the run (PRAGMA integrity_check)
    unrecovered: list[str] = field(default_factory=list)

    @property
    def total(self) -> Row:
        total = Row("total")
        for row in self.rows.values():
            for name in COUNTS:
                setattr(total, name, getattr(total, name) + getattr(row, name))
            total.recover.extend(row.recover)
        return total

    def table(self) -> str:
        head = ["fault", "faults", "commands", "lost", "run twice", "no terminal", "interrupted", "prog lost",
                "prog order", "events", "ev lost", "ev dup", "ev order", "recover p50 s", "recover max s"]
        lines = [head, *(r.cells() for r in self.rows.values()), self.total.cells()]
        widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
        out = ["  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
        out.insert(1, "  ".join("-" * w for w in widths))
        out.append(f"settings not applied: {len(self.settings_unapplied)} {self.settings_unapplied or ''}".rstrip())
        out.append(f"LMS database integrity: {self.integrity}")
        out.extend(f"NOT RECOVERED: {u}" for u in self.unrecovered)
        return "\n".join(out)
