"""``make chaos``: the fault-injection run on a fresh local twin; prints the ledger and fails (exit 1) on any
command lost, run twice or left without a terminal state, any progress event or agent event lost, duplicated or out
of order, a fault not recovered from, or a damaged LMS database.

    python -m tests.chaos --faults 100 --seed 17     (CHAOS_FAULTS / CHAOS_SEED are the defaults)
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from tests.chaos.harness import Chaos
from tests.chaos.options import FAULT_KINDS, ChaosOptions
from tests.chaos.twin import chaos_twin


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__.splitlines()[0])
    p.add_argument("--faults", type=int, default=int(os.environ.get("CHAOS_FAULTS", "100")))
    p.add_argument("--seed", type=int, default=int(os.environ.get("CHAOS_SEED", "17")))
    p.add_argument("--kinds", default=",".join(FAULT_KINDS), help="comma-separated fault kinds")
    p.add_argument("--agents", type=int, default=2)
    p.add_argument("--keep", action="store_true", help="keep the twin's work directory (logs)")
    p.add_argument("--each-once", action="store_true", help="each kind once, in a seeded order (--faults ignored)")
    args = p.parse_args(argv)
    kinds = tuple(k for k in args.kinds.split(",") if k)
    unknown = set(kinds) - set(FAULT_KINDS)
    if unknown or not kinds or args.faults < 1 or args.agents < 1:
        p.error(f"--faults and --agents at least 1; --kinds from {', '.join(FAULT_KINDS)} (unknown: {unknown})")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    faults = len(kinds) if args.each_once else args.faults
    options = ChaosOptions(faults=faults, seed=args.seed, kinds=kinds, each_once=args.each_once)
    with chaos_twin(agents=args.agents, keep=args.keep, small_disk="disk_full" in kinds) as twin:
        print(f"chaos: {faults} faults, seed {args.seed}, twin in {twin.workdir}", flush=True)
        ledger = Chaos(twin, options, say=lambda line: print(line, flush=True)).run()
    print(ledger.table())
    for line in ledger.details:
        print("  " + line)
    total = ledger.total
    failed = total.failures or ledger.integrity != "ok" or ledger.unrecovered
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
