"""The chaos run's twin: the cloud sweeps every few seconds and gives commands a delivery window of minutes (so a
command the faults kept from its agent ends within the run), the agents run any command."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from infra.local.twin import Twin
from tests.fixtures.twins import running_twin

#: the cloud's delivery window in the chaos run (a command not delivered by then ends ``expired``)
DELIVERY_WINDOW_S = 300
SWEEP_EVERY_S = 5.0


@contextlib.contextmanager
def chaos_twin(agents: int = 2, keep: bool = False) -> Iterator[Twin]:
    before = os.environ.get("CLASSTOP_COMMAND_DELIVERY_WINDOW_S")
    os.environ["CLASSTOP_COMMAND_DELIVERY_WINDOW_S"] = str(DELIVERY_WINDOW_S)
    try:
        with running_twin("ct-chaos-", agent_ids=tuple(f"pc-{i + 1}" for i in range(agents)),
                          site_heartbeat_s=2.0, schedule_every_s=SWEEP_EVERY_S, cloud_link_proxy=True,
                          keep=keep) as twin:
            yield twin
    finally:
        if before is None:
            os.environ.pop("CLASSTOP_COMMAND_DELIVERY_WINDOW_S", None)
        else:
            os.environ["CLASSTOP_COMMAND_DELIVERY_WINDOW_S"] = before
