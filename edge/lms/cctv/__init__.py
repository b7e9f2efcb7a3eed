"""CCTV at the LMS: the proxy to the agents' video servers and the short-lived tickets of the video paths."""

from __future__ import annotations

from edge.lms.cctv.cctv_proxy import (
    CAMERA_ID_RE,
    RECORDING_RE,
    CctvProxy,
    ProxyError,
    live_path,
    playback_path,
    snapshot_path,
)
from edge.lms.cctv.video_tickets import VideoTickets

__all__ = [
    "CAMERA_ID_RE",
    "RECORDING_RE",
    "CctvProxy",
    "ProxyError",
    "VideoTickets",
    "live_path",
    "playback_path",
    "snapshot_path",
]
