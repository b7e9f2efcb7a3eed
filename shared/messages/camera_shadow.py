"""An agent's camera configuration in a device shadow: the documents the cloud, IoT Core (or the twin) and the LMS
exchange (docs/cctv.md#camera-configuration-from-the-cloud).

Each agent's cameras are the named shadow ``cctv:{agent_id}`` of its site's thing
(:func:`shared.topics.cctv_shadow_name`), beside its settings shadow: a camera configuration may take up to 6 KB,
which would not fit beside the agent's settings in AWS's 8 KB per shadow (``desired`` and ``reported`` together).

* ``state.desired`` (the cloud writes it whole): :class:`~shared.cctv.CamerasDesired` —
  ``{"v": 1, "rev": N, "cameras": [CameraConfig, ...]}``; arrays are replaced whole by AWS, so a camera left out is
  a camera removed.
* ``state.reported`` (the LMS writes it for the agent): :class:`~shared.cctv.CamerasReported` —
  ``{"v": 1, "rev": N, "cameras": [{"camera_id", "status": "applied"|"rejected", "reason"?}]}``.

As for the settings shadow, AWS's own fields (``metadata``, ``timestamp``, ``clientToken``, ``delta``...) are
ignored, not forbidden; our parts (``desired``, ``reported``) are strict. A ``reported`` part that cannot be read
counts as none (it is rewritten at the next report), so a bad report never blocks what is desired.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field, ValidationError, field_validator

from shared.cctv import MAX_REASON_BYTES, CamerasDesired, CamerasReported
from shared.messages.shadow import MAX_SHADOW_STATE_BYTES, _AwsDocument, _update

#: Bytes of the shadow's state kept free for ``reported``, per desired camera: its id (≤ 64), status and a reason
#: of at most :data:`~shared.cctv.MAX_REASON_BYTES` bytes, with the JSON around them.
REPORTED_BYTES_PER_CAMERA = 64 + MAX_REASON_BYTES + 48
#: ``{"v":1,"rev":<16 digits>,"cameras":[]}`` and the ``desired``/``reported`` keys around both parts.
STATE_OVERHEAD_BYTES = 96


def _compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def desired_state_bytes(desired: CamerasDesired) -> int:
    """What ``desired`` plus the largest possible ``reported`` for it take of the shadow's 8 KB."""
    return (len(_compact(desired.model_dump(mode="json"))) + STATE_OVERHEAD_BYTES
            + REPORTED_BYTES_PER_CAMERA * len(desired.cameras))


def check_fits(desired: CamerasDesired) -> None:
    """``ValueError`` when ``desired`` (with room for its report) would not fit in one shadow."""
    size = desired_state_bytes(desired)
    if size > MAX_SHADOW_STATE_BYTES:
        raise ValueError(f"the camera configuration needs {size} bytes of the agent's shadow (its cameras and room "
                         f"for their reported state), over AWS's {MAX_SHADOW_STATE_BYTES}-byte limit")


class CameraShadowState(_AwsDocument):
    desired: CamerasDesired | None = None
    reported: CamerasReported | None = None

    @field_validator("reported", mode="wrap")
    @classmethod
    def _lenient(cls, value: Any, handler: Any) -> CamerasReported | None:
        try:
            reported: CamerasReported | None = handler(value)
        except ValidationError:
            return None
        return reported


class CameraShadow(_AwsDocument):
    """A whole ``cctv:`` shadow document: ``get/accepted``, the cloud's read, ``update/documents``'s parts."""

    state: CameraShadowState = Field(default_factory=CameraShadowState)
    version: int | None = None


class CameraShadowDocuments(_AwsDocument):
    """``update/documents``: the document before and after an update."""

    previous: CameraShadow | None = None
    current: CameraShadow


def cameras_desired_update(desired: CamerasDesired, *, version: int | None = None) -> bytes:
    """The cloud's ``update``: ``desired`` whole (conditional on the shadow ``version`` read, if given)."""
    check_fits(desired)
    return _update({"desired": desired.model_dump(mode="json")}, None, version)


def cameras_reported_update(reported: CamerasReported) -> bytes:
    """The LMS's ``update``: what the agent did with the desired cameras."""
    return _update({"reported": reported.model_dump(mode="json", exclude_none=True)}, None)
