"""Presence: the Last Will, the announcement on every (re)connect, the heartbeat, and the goodbye.

* The MQTT Last Will is a retained ``Status(offline, reason="lost")`` on ``ct/agent/<id>/up/status``: the
  broker publishes it when the agent vanishes without a clean disconnect (crash, kill -9, network loss).
  Its ``timestamp`` is when the client was created (the will is fixed at connect time); the LMS should
  trust its own receive time for "lost".
* On every connect and reconnect: a retained ``Status(online, reason="start", version, hostname)``, then a
  ``state_update`` with all settings and the host inventory.
* A ``Heartbeat`` (with a sequence number counting from 0 per process) every ``heartbeat_s``.
* A clean stop publishes a retained ``Status(offline, reason="stop")``, waits briefly for its PUBACK, then
  disconnects normally (which tells the broker to discard the will).
"""

from __future__ import annotations

import logging
import time

from edge.agent import __version__
from edge.agent.inventory import hostname, inventory
from edge.agent.settings import SettingsStore
from edge.agent.uplink import Uplink
from shared.messages.enums import Presence
from shared.messages.structs import Heartbeat, StateData, StateUpdate, Status, build
from shared.topics import AgentUp

log = logging.getLogger(__name__)


def last_will() -> Status:
    return build(Status, state=Presence.OFFLINE, reason="lost", timestamp=time.time())


def online_status(config_version: str | None = None) -> Status:
    return build(
        Status,
        state=Presence.ONLINE, reason="start", timestamp=time.time(), version=__version__, hostname=hostname(),
        config_version=config_version,
    )


def state_update(agent_id: str, store: SettingsStore) -> StateUpdate:
    """All settings (strings) plus the host inventory, as one ``state_update``."""
    return build(StateUpdate, data=build(StateData, settings=store.all(), inventory=inventory(agent_id)))


class Announcer:
    """The ``on_connected`` hook: say we are online and what our state is."""

    def __init__(self, agent_id: str, store: SettingsStore, *, config_version: str | None = None) -> None:
        self.agent_id = agent_id
        self.store = store
        self.config_version = config_version  # reported in the online status (docs/protocol.md#versions)
        self.connects = 0

    def __call__(self, uplink: Uplink) -> None:
        self.connects += 1
        uplink.publish(AgentUp.STATUS, online_status(self.config_version), retain=True)
        uplink.publish(AgentUp.STATE, state_update(self.agent_id, self.store))
        log.info("announced online (connect #%d)", self.connects)


def say_goodbye(uplink: Uplink, timeout_s: float) -> bool:
    """Publish the retained offline status and wait up to ``timeout_s`` for the broker to take it."""
    message = build(
        Status,
        state=Presence.OFFLINE, reason="stop", timestamp=time.time(), version=__version__, hostname=hostname()
    )
    delivered = uplink.publish_and_wait(AgentUp.STATUS, message, retain=True, timeout_s=timeout_s)
    if not delivered:
        log.warning("offline status not acknowledged within %.1f s", timeout_s)
    return delivered


class Heartbeats:
    """One ``Heartbeat`` per :meth:`beat` (while connected), numbered from 0; the agent beats every ``heartbeat_s``."""

    def __init__(self, uplink: Uplink) -> None:
        self._uplink = uplink
        self._seq = 0

    def beat(self) -> None:
        if self._uplink.publish(AgentUp.HEARTBEAT, build(Heartbeat, timestamp=time.time(), seq=self._seq)):
            self._seq += 1
