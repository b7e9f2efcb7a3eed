"""The short fault-injection run of ``make test`` (``make chaos`` is the full one): one fault of each kind, seeded,
through every tier of the local twin; after the recovery window nothing is lost, nothing ran twice, every command
has a terminal state, every agent's settings reached the last value asked for, and the LMS's database is whole.
``disk_full`` mounts a small filesystem of its own (root): where that is impossible this test fails, saying so."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.harness import Chaos
from tests.chaos.options import FAULT_KINDS, ChaosOptions
from tests.chaos.twin import SmallDiskError, chaos_twin, lms_filesystem

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(900)
def test_a_short_chaos_run_loses_nothing_and_runs_nothing_twice() -> None:
    lines: list[str] = []
    kinds = FAULT_KINDS
    with chaos_twin() as twin:
        # each kind once, in the order a seed picks (ChaosOptions.kinds drawn without repeats: Chaos.run)
        ledger = Chaos(twin, ChaosOptions(faults=len(kinds), seed=17, kinds=kinds, each_once=True),
                       say=lines.append).run()  # fmt: skip
    total = ledger.total
    report = ledger.table() + "\n" + "\n".join(lines + ledger.details)
    assert {k: r.faults for k, r in ledger.rows.items() if k != "none"} == dict.fromkeys(kinds, 1), report
    assert total.commands > 0, report
    assert total.events > 0, report
    assert total.lost == 0 and total.run_twice == 0 and total.no_terminal == 0, report
    assert total.progress_lost == 0 and total.progress_out_of_order == 0, report
    assert total.events_dup == 0 and total.events_out_of_order == 0, report
    assert ledger.settings_unapplied == [], report
    assert ledger.integrity == "ok" and ledger.unrecovered == [], report
    assert total.events_lost == 0, report


def test_disk_full_fails_clearly_when_its_filesystem_cannot_be_mounted(tmp_path: Path) -> None:
    with pytest.raises(SmallDiskError, match="disk_full needs a small filesystem"), lms_filesystem(
        tmp_path / "lms", size="not-a-size"
    ):
        pass
    assert not (tmp_path / "lms").is_mount()
