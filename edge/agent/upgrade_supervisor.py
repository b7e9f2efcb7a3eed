"""``python -m edge.agent.upgrade_supervisor --root DIR --config FILE``: run the agent from ``DIR/current``,
restart it when it exits, and roll back an upgrade that is not confirmed in time.

This is the stand-in for what systemd does in production (docs/upgrades.md#restart-and-rollback): the unit's
``Restart=always`` (restart on any exit, at once after :data:`~edge.agent.upgrade.EXIT_RESTART`), its
``ExecStartPre`` and the one-minute timer that both run ``python -m edge.agent.upgrade_supervisor --root DIR
--check`` (:meth:`Slots.expire`: past the deadline, ``current`` goes back to the previous version and the agent
is restarted). The tests run it as the agent's parent process, so the restart and the rollback they check are
real processes, on the same :class:`~edge.agent.upgrade_slots.Slots` code. It ships with the base install and
runs from there, never from a slot, so a broken package cannot break its own rollback.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from edge.agent.upgrade import EXIT_RESTART
from edge.agent.upgrade_slots import Slots

log = logging.getLogger("edge.agent.upgrade_supervisor")
POLL_S = 0.2


class Supervisor:
    def __init__(self, root: Path, agent_args: list[str], *, restart_delay_s: float = 1.0) -> None:
        self.slots = Slots(root)
        self.agent_args = agent_args
        self.restart_delay_s = restart_delay_s
        self.stopping = threading.Event()
        self.child: subprocess.Popen[bytes] | None = None

    def spawn(self) -> subprocess.Popen[bytes]:
        code_dir = self.slots.current_link
        env = {**os.environ, "PYTHONPATH": str(code_dir)}
        log.info("starting the agent %s from %s", self.slots.current(), code_dir)
        return subprocess.Popen([sys.executable, "-m", "edge.agent", *self.agent_args], env=env,
                                stdin=subprocess.DEVNULL)  # fmt: skip

    def run(self) -> int:
        while not self.stopping.is_set():
            self.slots.expire()  # ExecStartPre
            child = self.child = self.spawn()
            code = self._watch(child)
            if self.stopping.is_set():
                return code or 0
            delay = 0.0 if code in (EXIT_RESTART, None) else self.restart_delay_s
            log.warning("the agent exited with %s; restarting in %.1f s", code, delay)
            self.stopping.wait(delay)
        return 0

    def _watch(self, child: subprocess.Popen[bytes]) -> int | None:
        """Wait for ``child`` to exit (its code), or stop it when an unconfirmed upgrade expires (None)."""
        while True:
            try:
                return child.wait(POLL_S)
            except subprocess.TimeoutExpired:
                pass
            if self.stopping.is_set():
                return self._stop(child)
            pending = self.slots.pending()
            if pending is not None and self.slots.expire() is not None:  # the timer
                log.warning("upgrade to %s not online in time: restarting on %s", pending.version, pending.previous)
                self._stop(child)
                return None

    def _stop(self, child: subprocess.Popen[bytes]) -> int:
        child.send_signal(signal.SIGTERM)
        try:
            return child.wait(15)
        except subprocess.TimeoutExpired:
            child.kill()
            return child.wait(5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge.agent.upgrade_supervisor", description=__doc__)
    parser.add_argument("--root", required=True, type=Path, help="the agent's install root ([upgrade] root)")
    parser.add_argument("--check", action="store_true", help="roll back an expired upgrade, then exit")
    parser.add_argument("--restart-delay", type=float, default=1.0, help="seconds before restarting a failed agent")
    args, agent_args = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s supervisor %(levelname)s %(message)s")
    if args.check:
        return 0 if Slots(args.root).expire() is None else 3
    supervisor = Supervisor(args.root, agent_args, restart_delay_s=args.restart_delay)

    def stop(_signum: int, _frame: object) -> None:
        supervisor.stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())
