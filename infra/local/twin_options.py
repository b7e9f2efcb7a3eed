"""What a local twin runs: its ports and options (``infra.local.twin.Twin``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from infra.local.ports import free_port


@dataclass
class TwinPorts:
    api: int = 8765
    lms: int = 8000  # HTTPS
    site_broker: int = 8883  # MQTT over TLS
    site_broker_plain: int = 0  # plain MQTT, loopback only; 0: pick a free port
    cloud_broker: int = 0  # 0: pick a free port
    moto: int = 0

    @classmethod
    def free(cls) -> TwinPorts:
        return cls(api=free_port(), lms=free_port(), site_broker=free_port(), cloud_broker=0, moto=0)


@dataclass
class TwinOptions:
    tenant: str = "demo"
    stage: str = "dev"
    site_id: str = "school-1"
    agent_ids: Sequence[str] = ("pc-01", "pc-02", "pc-03")
    host: str = "127.0.0.1"
    ports: TwinPorts = field(default_factory=TwinPorts)
    site_heartbeat_s: float = 5.0
    agent_heartbeat_s: float = 5.0
    presence_timeout_s: float = 20.0
    exec_mode: str = "any"  # the demo's agents run any command; production agents default to an allowlist
    #: agents with ``[camera] enabled = true`` (recordings under their state dir; MJPEG server on a free port)
    camera_agents: Sequence[str] = ()
    start_timeout_s: float = 60.0
    #: restart the brokers, the LMS and the agents when they exit unasked (infra/local/supervisor.py)
    supervise: bool = True
    #: run the cloud's scheduled functions (the command sweeper) this often; None: the template's rate
    schedule_every_s: float | None = None
    #: the LMS reaches the IoT Core stand-in through a relay a test can cut (``Twin.link_proxy``)
    cloud_link_proxy: bool = False
    #: the LMS's and the agents' wall clocks can be stepped by a test (``Twin.shift_clock``;
    #: infra/local/clock_shift/sitecustomize.py)
    clock_shift: bool = False
