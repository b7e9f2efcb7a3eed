"""Camera configurations delivered to the agents: the ``cctv:{agent_id}`` shadow of the site's thing
(docs/cctv.md#camera-configuration-from-the-cloud; the documents: ``shared.messages.camera_shadow``).

The camera configs stored by :class:`~chalicelib.services.cctv.CctvService` (DynamoDB, versioned) are the record;
after each change the whole set, in the agent's own form (``shared.cctv.CameraConfig``; disabled cameras left
out), is written to the shadow's ``desired`` with ``rev`` = the record's version. The write is conditional on the
shadow version read (another writer in between: read and write again), and a shadow already holding this revision
or a newer one is left alone, so a slow writer never replaces a newer set with an older one. The site's LMS relays
it to the agent and writes back, per camera, ``applied`` or ``rejected`` with the agent's reason;
:meth:`CameraDelivery.status` reads that for the API.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.shadows import ShadowConflict, ShadowError, ShadowStore, read_document
from chalicelib.errors import BadRequest
from shared.names import Namespace
from shared.topics import cctv_shadow_name, site_thing_name

if TYPE_CHECKING:  # the documents (pydantic) load when a camera configuration is delivered or its shadow read
    from shared.cctv import CamerasDesired
    from shared.messages.camera_shadow import CameraShadow

log = logging.getLogger(__name__)

WRITE_ATTEMPTS = 5
#: the API's fields -> the agent's (``retention_days`` becomes ``max_age_h``; ``enabled`` decides delivery)
_SAME_FIELDS = ("name", "source", "width", "height", "fps", "codec", "record", "segment_s")


def agent_camera(camera_id: str, config: dict[str, Any]) -> dict[str, Any]:
    """One stored config in the agent's form, fields at the agent's defaults left out (the shadow has 8 KB)."""
    from shared.cctv import CameraConfig

    fields = CameraConfig.model_fields
    out: dict[str, Any] = {"camera_id": camera_id}
    for name in _SAME_FIELDS:
        value = config.get(name)
        if value is not None and (fields[name].is_required() or value != fields[name].default):
            out[name] = value
    if config.get("retention_days") is not None:
        out["max_age_h"] = config["retention_days"] * 24
    return out


def desired_of(version: int, cameras: dict[str, Any]) -> CamerasDesired:
    from shared.cctv import CamerasDesired

    return CamerasDesired(rev=version, cameras=[agent_camera(camera_id, config) for camera_id, config
                                                in sorted(cameras.items()) if config.get("enabled", True)])


@dataclass(frozen=True, slots=True)
class DeliveryView:
    """The shadow as last read: what it desires and what the agent reported (``None``: nothing yet)."""

    desired_rev: int | None = None
    reported_rev: int | None = None
    results: dict[str, dict[str, Any]] | None = None
    #: why the shadow could not be read or written, if so
    problem: str | None = None

    def of(self, camera_id: str, config: dict[str, Any], version: int) -> dict[str, Any]:
        """One camera's delivery: ``disabled``, ``undelivered`` (the shadow lags the record), ``pending`` (the agent
        has not answered this revision), ``applied`` or ``rejected`` (with the agent's ``reason``)."""
        if not config.get("enabled", True):
            return {"status": "disabled"}
        if self.desired_rev is None or self.desired_rev < version:
            return {"status": "undelivered", "reason": self.problem or "not in the agent's shadow yet"}
        if self.reported_rev != self.desired_rev or self.results is None or camera_id not in self.results:
            return {"status": "pending"}
        return dict(self.results[camera_id])

    def to_dict(self) -> dict[str, Any]:
        return {"desired_rev": self.desired_rev, "reported_rev": self.reported_rev, "problem": self.problem}


class CameraDelivery:
    def __init__(self, shadows: ShadowStore, namespace: Namespace) -> None:
        self._shadows = shadows
        self._namespace = namespace

    @staticmethod
    def check(version: int, cameras: dict[str, Any]) -> None:
        """400 when the set would not fit in the agent's shadow (checked before the record is written)."""
        from shared.messages.camera_shadow import check_fits

        try:
            check_fits(desired_of(version, cameras))
        except ValueError as exc:
            raise BadRequest(f"cameras: {exc}; remove or shorten cameras first") from None

    def deliver(self, site_id: str, agent_id: str, version: int, cameras: dict[str, Any]) -> DeliveryView:
        """Write the set of record ``version`` to the agent's shadow; a failure is logged and shown, not raised (the
        record is stored: the next change of the agent's cameras delivers the whole set again)."""
        from shared.messages.camera_shadow import cameras_desired_update

        thing, name = self._address(site_id, agent_id)
        desired = desired_of(version, cameras)
        try:
            for _ in range(WRITE_ATTEMPTS):
                shadow = self._read(thing, name)
                current = shadow.state.desired
                if current is not None and current.rev >= version:
                    return _view(shadow)  # this revision, or a newer one, is there already
                try:
                    self._shadows.update(thing, name, cameras_desired_update(desired, version=shadow.version))
                except ShadowConflict:
                    continue
                log.info("agent %s cameras: revision %d (%d camera(s)) written to %s/%s", agent_id, version,
                         len(desired.cameras), thing, name)
                reported = shadow.state.reported
                return DeliveryView(version, reported.rev if reported else None, None)
            problem = f"the shadow changed {WRITE_ATTEMPTS} times while writing"
        except ShadowError as exc:
            problem = exc.message
        log.warning("agent %s cameras: revision %d not delivered: %s", agent_id, version, problem)
        return DeliveryView(problem=problem)

    def status(self, site_id: str, agent_id: str) -> DeliveryView:
        try:
            return _view(self._read(*self._address(site_id, agent_id)))
        except ShadowError as exc:
            return DeliveryView(problem=str(exc))

    def _address(self, site_id: str, agent_id: str) -> tuple[str, str]:
        return site_thing_name(self._namespace, site_id), cctv_shadow_name(agent_id)

    def _read(self, thing: str, name: str) -> CameraShadow:
        from shared.messages.camera_shadow import CameraShadow

        return read_document(self._shadows, thing, name, CameraShadow, "camera ")


def _view(shadow: CameraShadow) -> DeliveryView:
    desired, reported = shadow.state.desired, shadow.state.reported
    results = None if reported is None else {r.camera_id: r.model_dump(exclude_none=True, exclude={"camera_id"})
                                             for r in reported.cameras}
    return DeliveryView(desired.rev if desired else None, reported.rev if reported else None, results)
