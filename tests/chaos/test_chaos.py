"""The short fault-injection run of ``make test`` (``make chaos`` is the full one): one fault of each kind, seeded,
through every tier of the local twin; after the recovery window nothing is lost, nothing ran twice, every command
has a terminal state, and every agent's settings reached the last value asked for."""

from __future__ import annotations

import pytest

from tests.chaos.harness import FAULT_KINDS, Chaos, ChaosOptions
from tests.chaos.twin import chaos_twin

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(900)
def test_a_short_chaos_run_loses_nothing_and_runs_nothing_twice() -> None:
    lines: list[str] = []
    with chaos_twin() as twin:
        ledger = Chaos(twin, ChaosOptions(faults=len(FAULT_KINDS), seed=17, kinds=FAULT_KINDS),
                       say=lines.append).run()
    total = ledger.total
    report = ledger.table() + "\n" + "\n".join(lines + ledger.details)
    assert total.faults == len(FAULT_KINDS) and total.commands > 0, report
    assert total.lost == 0 and total.run_twice == 0 and total.no_terminal == 0, report
    assert ledger.settings_unapplied == [], report
