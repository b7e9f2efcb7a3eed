"""CCTV management: camera configurations per agent (the desired state, versioned; last writer wins per
camera, concurrent writers are serialised by a version check), the events log and each camera's latest status.

After each change the agent's whole set is delivered to its ``cctv:`` shadow (:mod:`.camera_delivery`); the views
show, per camera, how that went (``delivery``: undelivered, pending, applied, rejected with the agent's reason).

Events arrive from sites (``site_events`` rule). A site may only report events of its own agents; an event
whose ``kind`` starts with ``cctv.`` (or ``camera.``) also sets that camera's latest status (``cctv.frozen`` ->
``frozen``), the camera being ``data.camera_id`` (or ``data.camera_index``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.domain.page import Page
from chalicelib.domain.snapshot import Snapshot
from chalicelib.domain.token import Principal
from chalicelib.errors import BadRequest, NotFound, UpstreamError
from chalicelib.repositories.agent import AgentRepository
from chalicelib.repositories.event import EventRepository, StoredEvent
from chalicelib.repositories.snapshot import SnapshotRepository
from chalicelib.services.agents import AgentService
from chalicelib.services.camera_delivery import CameraDelivery, DeliveryView
from chalicelib.services.optimistic_writes import retry_stale

if TYPE_CHECKING:  # the site's messages, decoded by their msgspec mirrors (no pydantic)
    from shared.messages.structs import Event

#: most cameras one agent may have configured
MAX_CAMERAS_PER_AGENT = 32
CAMERAS = "cctv"
CAMERA_STATUS = "cctv_status"
EVENT_RETENTION_S = 90 * 24 * 3600

#: Event kinds that set a camera's latest status: ``cctv.frozen`` (what agents send) or ``camera.frozen``.
CAMERA_EVENT_PREFIXES = ("cctv.", "camera.")


@dataclass(frozen=True, slots=True)
class EventsReport:
    stored: int = 0
    #: events for agents that are not this site's
    ignored: int = 0
    statuses: int = 0


class CctvService:
    def __init__(self, snapshots: SnapshotRepository, events: EventRepository, agents: AgentService,
                 agent_records: AgentRepository, clock: Callable[[], float] = time.time,
                 max_cameras: int = MAX_CAMERAS_PER_AGENT, *, delivery: CameraDelivery) -> None:
        self._snapshots = snapshots
        self._events = events
        self._agents = agents
        self._agent_records = agent_records
        self._max_cameras = max_cameras
        self._clock = clock
        self._delivery = delivery

    # ------------------------------------------------------------ camera configurations

    def cameras(self, agent_id: str, principal: Principal) -> dict[str, Any]:
        """The agent's camera configs, each with its ``delivery``, and the shadow's revisions (``delivery``)."""
        agent = self._agents.get(agent_id, principal)
        snap = self._snapshots.get(agent_id, CAMERAS)
        version = snap.version if snap else 0
        cameras: dict[str, Any] = dict(snap.body) if snap else {}
        view = self._delivery.status(agent.site_id, agent_id) if version else DeliveryView()
        return {"agent_id": agent_id, "version": version, "delivery": view.to_dict(),
                "cameras": {c: {**config, "delivery": view.of(c, config, version)} for c, config in cameras.items()}}

    def camera(self, agent_id: str, camera_id: str, principal: Principal) -> dict[str, Any]:
        cameras = self.cameras(agent_id, principal)["cameras"]
        if camera_id not in cameras:
            raise NotFound(f"agent {agent_id} has no camera {camera_id}")
        config: dict[str, Any] = cameras[camera_id]
        return config

    def put_camera(self, agent_id: str, camera_id: str, config: dict[str, Any],
                   principal: Principal) -> tuple[dict[str, Any], bool]:
        """Create or replace one camera's configuration. Returns (config, created)."""
        agent = self._agents.get(agent_id, principal)
        principal.require_sites({agent.site_id})

        def change(cameras: dict[str, Any]) -> dict[str, Any]:
            if camera_id not in cameras and len(cameras) >= self._max_cameras:
                raise BadRequest(f"agent {agent_id} already has {self._max_cameras} cameras")
            return {**cameras, camera_id: {**config, "updated_at": self._clock(), "updated_by": principal.name}}

        before, after, version = self._change(agent_id, change)
        view = self._delivery.deliver(agent.site_id, agent_id, version, after)
        stored: dict[str, Any] = {**after[camera_id], "delivery": view.of(camera_id, after[camera_id], version)}
        return stored, camera_id not in before

    def delete_camera(self, agent_id: str, camera_id: str, principal: Principal) -> None:
        agent = self._agents.get(agent_id, principal)
        principal.require_sites({agent.site_id})

        def change(cameras: dict[str, Any]) -> dict[str, Any]:
            if camera_id not in cameras:
                raise NotFound(f"agent {agent_id} has no camera {camera_id}")
            return {k: v for k, v in cameras.items() if k != camera_id}

        _, after, version = self._change(agent_id, change)
        self._delivery.deliver(agent.site_id, agent_id, version, after)

    def _change(self, agent_id: str,
                change: Callable[[dict[str, Any]], dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any], int]:
        """Read-modify-write of the agent's cameras with a version check (a set too large for the agent's shadow is
        a 400, nothing written). Returns the cameras before and after, and the new version."""

        def attempt() -> tuple[dict[str, Any], dict[str, Any], int]:
            snap = self._snapshots.get(agent_id, CAMERAS)
            version = snap.version if snap else 0
            before: dict[str, Any] = dict(snap.body) if snap else {}
            after = change(before)
            self._delivery.check(version + 1, after)
            self._snapshots.put(Snapshot(agent_id, CAMERAS, after, version + 1, self._clock()), version)
            return before, after, version + 1

        return retry_stale(attempt, UpstreamError(f"cameras of {agent_id}: too many concurrent updates; retry"))

    # ------------------------------------------------------------ events and status

    def ingest(self, site_id: str, events: list[tuple[str, Event]]) -> EventsReport:
        agents = self._agent_records.get_many(a for a, _ in events)
        own = [(a, e) for a, e in events if a in agents and agents[a].site_id == site_id]
        if own:
            self._events.append_many(
                [StoredEvent(a, site_id, e.timestamp, e.kind, e.severity.value, e.message, e.data) for a, e in own],
                self._clock() + EVENT_RETENTION_S,
            )
        statuses = 0
        latest: dict[str, dict[str, dict[str, Any]]] = {}
        for agent_id, event in own:
            camera = event.data.get("camera_id", event.data.get("camera_index"))
            prefix = next((p for p in CAMERA_EVENT_PREFIXES if event.kind.startswith(p)), None)
            if prefix and isinstance(camera, (str, int)) and not isinstance(camera, bool):
                latest.setdefault(agent_id, {})[str(camera)] = {
                    "state": event.kind.removeprefix(prefix), "at": event.timestamp, "message": event.message,
                    "severity": event.severity.value}
        for agent_id, cameras in latest.items():
            statuses += self._merge_status(agent_id, cameras)
        return EventsReport(len(own), len(events) - len(own), statuses)

    def _merge_status(self, agent_id: str, cameras: dict[str, dict[str, Any]]) -> int:
        def attempt() -> int:
            snap = self._snapshots.get(agent_id, CAMERA_STATUS)
            version = snap.version if snap else 0
            current: dict[str, Any] = dict(snap.body) if snap else {}
            newer = {c: s for c, s in cameras.items() if c not in current or current[c]["at"] <= s["at"]}
            if not newer:
                return 0
            self._snapshots.put(Snapshot(agent_id, CAMERA_STATUS, {**current, **newer}, version + 1, self._clock()),
                                version)
            return len(newer)

        return retry_stale(attempt, UpstreamError(f"camera status of {agent_id}: too many concurrent updates"))

    def status(self, agent_id: str, principal: Principal) -> dict[str, Any]:
        self._agents.get(agent_id, principal)
        snap = self._snapshots.get(agent_id, CAMERA_STATUS)
        return {"agent_id": agent_id, "cameras": dict(snap.body) if snap else {}}

    def events(self, principal: Principal, *, agent_id: str | None, day: str | None, limit: int,
               cursor: str | None, since: float | None = None) -> Page[StoredEvent]:
        """An agent's events or a day's, newest first; ``since`` (epoch seconds): only newer ones."""
        if agent_id is not None:
            self._agents.get(agent_id, principal)
            return self._events.of_agent(agent_id, limit=limit, cursor=cursor, since=since)
        if day is None:
            day = time.strftime("%Y-%m-%d", time.gmtime(self._clock()))
        page = self._events.of_day(day, limit=limit, cursor=cursor, since=since)
        return Page([e for e in page.items if principal.can_see_site(e.site_id)], page.cursor)
