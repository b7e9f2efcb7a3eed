"""What a chaos run does (:class:`ChaosOptions`): which fault kinds (:data:`FAULT_KINDS`), how many, how often and how
long; the workload's pace and the recovery windows."""

from __future__ import annotations

from dataclasses import dataclass

FAULT_KINDS = ("lms_kill", "agent_kill_mid_exec", "site_broker_kill", "iot_core_kill", "cloud_link_cut", "disk_full",
               "clock_jump", "slow_link")


@dataclass
class ChaosOptions:
    faults: int = 5
    seed: int = 17
    kinds: tuple[str, ...] = FAULT_KINDS
    command_every_s: float = 0.25
    settings_every_s: float = 2.0
    #: quiet time between the recovery of one fault and the next (random in this range)
    gap_s: tuple[float, float] = (1.0, 3.0)
    link_cut_s: tuple[float, float] = (3.0, 8.0)
    disk_full_s: tuple[float, float] = (4.0, 10.0)
    disk_full_max_s: float = 40.0
    clock_jump_s: tuple[float, float] = (4.0, 10.0)
    clock_jump_by_s: float = 3600.0
    slow_link_s: tuple[float, float] = (5.0, 12.0)
    slow_delay_s: tuple[float, float] = (0.1, 0.6)
    slow_loss: tuple[float, float] = (0.02, 0.2)
    #: how long one fault may take to recover before the run fails
    recover_timeout_s: float = 90.0
    #: after the last fault, how long every command gets to reach a terminal state
    settle_timeout_s: float = 180.0
    exec_sleep_s: tuple[float, float] = (0.1, 0.8)
    #: one numbered event dropped into an agent's spool this often (tests/chaos/agent_events.py)
    event_every_s: float = 0.25
    #: after the commands settled, how long every event gets to reach the cloud
    events_timeout_s: float = 120.0
    #: every kind once (``faults`` must equal the number of kinds), in a seeded order: the short run of make test
    each_once: bool = False
