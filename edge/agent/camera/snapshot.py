"""Snapshots: one JPEG of a camera's newest frame, returned inline or PUT to an upload URL.

An upload URL is typically a presigned S3 ``PUT`` URL from the central plane (the agent holds no cloud
credentials). A refusal by the server (4xx) is ``invalid_params`` (an expired or wrong URL); a network
failure or 5xx is ``internal``. Inline JPEGs are limited to :data:`INLINE_MAX` bytes so the response stays
under the 128 KB message limit.
"""

from __future__ import annotations

import base64
import time
import urllib.error
import urllib.request
from typing import Any

from edge.agent.camera.errors import CameraError
from shared.errors import ErrorCode

INLINE_MAX = 64 * 1024
UPLOAD_TIMEOUT_S = 20.0


def upload(url: str, jpeg: bytes, timeout: float = UPLOAD_TIMEOUT_S) -> int:
    """PUT ``jpeg`` to ``url``; the HTTP status, or :class:`CameraError`."""
    request = urllib.request.Request(url, data=jpeg, method="PUT", headers={"Content-Type": "image/jpeg"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        code = ErrorCode.INVALID_PARAMS if 400 <= exc.code < 500 else ErrorCode.INTERNAL
        raise CameraError(f"snapshot upload refused: HTTP {exc.code} {exc.reason}", code) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CameraError(f"snapshot upload failed: {reason}", ErrorCode.INTERNAL) from None


def snapshot_data(camera_id: str, jpeg: bytes, upload_url: str | None) -> dict[str, Any]:
    data: dict[str, Any] = {"camera_id": camera_id, "size": len(jpeg), "timestamp": round(time.time(), 3)}
    if upload_url is not None:
        data["uploaded"] = True
        data["status"] = upload(upload_url, jpeg)
        return data
    if len(jpeg) > INLINE_MAX:
        raise CameraError(f"snapshot is {len(jpeg)} bytes, more than a response carries ({INLINE_MAX}): "
                          "give upload_url")
    data["uploaded"] = False
    data["jpeg_base64"] = base64.b64encode(jpeg).decode("ascii")
    return data
