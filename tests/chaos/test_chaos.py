"""The short fault-injection run of ``make test`` (``make chaos`` is the full one): a few faults, seeded, through every
tier of the local twin; after the recovery window nothing is lost, nothing ran twice, every command has a terminal
state, and every agent's settings reached the last value asked for.

``iot_core_kill`` is left to ``make chaos`` for now: a ``kill -9`` of the stand-in Mosquitto loses the sessions and
queued messages it held in memory (the LMS's, and the twin's rules engine's), which AWS IoT Core never does — the
twin's broker files and rules engine are being made to keep them (docs/operations.md#fault-injection-make-chaos)."""

from __future__ import annotations

import pytest

from tests.chaos.harness import FAULT_KINDS, Chaos, ChaosOptions
from tests.chaos.twin import chaos_twin

KINDS = tuple(k for k in FAULT_KINDS if k != "iot_core_kill")

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(900)
def test_a_short_chaos_run_loses_nothing_and_runs_nothing_twice() -> None:
    lines: list[str] = []
    with chaos_twin() as twin:
        ledger = Chaos(twin, ChaosOptions(faults=len(KINDS), seed=17, kinds=KINDS), say=lines.append).run()
    total = ledger.total
    report = ledger.table() + "\n" + "\n".join(lines + ledger.details)
    assert total.faults == len(KINDS) and total.commands > 0, report
    assert total.lost == 0 and total.run_twice == 0 and total.no_terminal == 0, report
    assert ledger.settings_unapplied == [], report
