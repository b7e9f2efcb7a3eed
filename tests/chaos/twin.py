"""The chaos run's twin: the cloud sweeps every few seconds and gives commands a delivery window of two hours (a
command the faults kept from its agent is asked for again within the run; the clock jumps of an hour stay within
it), the agents run any command; the LMS's data directory is a small filesystem of the run's own (``disk_full``),
the LMS's and the agents' wall clocks can be stepped (``clock_jump``), the cloud link is a relay that can be cut
or slowed (``cloud_link_cut``, ``slow_link``), and each agent publishes the events the run drops into its spool."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from infra.local.twin import Twin
from infra.local.twin_options import TwinOptions, TwinPorts
from tests.chaos.agent_events import spool_dir

#: the cloud's delivery window in the chaos run (a command not delivered by then ends ``expired``)
DELIVERY_WINDOW_S = 7200
SWEEP_EVERY_S = 5.0
#: the size of the LMS's own filesystem (its database, certificates and configuration)
LMS_FS_SIZE = "64m"


class SmallDiskError(RuntimeError):
    """The LMS's small filesystem could not be mounted (the ``disk_full`` fault cannot run)."""


class ChaosTwin(Twin):
    """The twin whose agents also publish the events dropped into their spools (``tests/chaos/agent_events.py``)."""

    def agent_config(self, agent_id: str) -> dict[str, Any]:
        config = super().agent_config(agent_id)
        config["event_spool"] = {"directory": str(spool_dir(self.workdir, agent_id)), "interval_s": 0.2}
        return config


@contextlib.contextmanager
def lms_filesystem(path: Path, size: str = LMS_FS_SIZE) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted on ``path`` (made if missing), unmounted afterwards. Needs root (mount(8))."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        raise SmallDiskError(f"disk_full needs a small filesystem of its own for the LMS's data: mount -t tmpfs on "
                             f"{path} failed ({done.stderr.strip() or done.returncode}); run as root, or leave "
                             f"disk_full out (--kinds)")  # fmt: skip
    try:
        yield path
    finally:
        subprocess.run(["umount", "--lazy", str(path)], capture_output=True, check=False)


@contextlib.contextmanager
def chaos_twin(agents: int = 2, keep: bool = False, *, small_disk: bool = True) -> Iterator[Twin]:
    before = os.environ.get("CLASSTOP_COMMAND_DELIVERY_WINDOW_S")
    os.environ["CLASSTOP_COMMAND_DELIVERY_WINDOW_S"] = str(DELIVERY_WINDOW_S)
    workdir = Path(tempfile.mkdtemp(prefix="ct-chaos-"))
    options = TwinOptions(ports=TwinPorts.free(), agent_ids=tuple(f"pc-{i + 1}" for i in range(agents)),
                          site_heartbeat_s=2.0, schedule_every_s=SWEEP_EVERY_S, cloud_link_proxy=True,
                          clock_shift=True)  # fmt: skip
    try:
        with contextlib.ExitStack() as stack:
            if small_disk:
                stack.enter_context(lms_filesystem(workdir / "lms"))
            twin = ChaosTwin(workdir, options)
            twin.start()
            stack.callback(twin.stop)
            yield twin
    finally:
        if before is None:
            os.environ.pop("CLASSTOP_COMMAND_DELIVERY_WINDOW_S", None)
        else:
            os.environ["CLASSTOP_COMMAND_DELIVERY_WINDOW_S"] = before
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
