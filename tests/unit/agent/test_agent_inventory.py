"""Host inventory (sent in every state_update) and the rare process sample, read from this real machine."""

from __future__ import annotations

import json
import os

from edge.agent.inventory import hardware, inventory
from edge.agent.processes import ProcessSampler
from shared.messages import StateData, StateUpdate, encode


def test_inventory_describes_os_cpu_memory_disks_and_nics() -> None:
    info = inventory("pc-1")
    assert info["agent_id"] == "pc-1" and info["pid"] == os.getpid()
    assert info["os"]["system"] and info["cpu"]["logical"] >= 1 and info["memory_total"] > 0
    assert info["cpu_count"] == info["cpu"]["logical"]
    assert all(d["total"] > 0 and d["mount"].startswith("/") for d in info["disks"])
    for nic in info["nics"]:
        assert nic["name"] != "lo" and isinstance(nic["addresses"], list)
    assert hardware() is hardware()  # gathered once per process
    message = StateUpdate(data=StateData(settings={}, inventory=info))
    assert len(encode(message)) < 16 * 1024
    json.dumps(info)


def test_process_sample_lists_this_process() -> None:
    sample = ProcessSampler().sample(top=500)
    pids = {p["pid"] for p in sample["by_memory"]}
    assert os.getpid() in pids and sample["count"] >= len(pids)
    me = next(p for p in sample["by_memory"] if p["pid"] == os.getpid())
    assert me["rss"] > 0 and me["name"]
    rss = [p["rss"] for p in sample["by_memory"]]
    assert rss == sorted(rss, reverse=True)
