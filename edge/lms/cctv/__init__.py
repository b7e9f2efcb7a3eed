"""CCTV at the LMS: the proxy to the agents' video servers, the short-lived tickets of the video paths, and the
seed's CCTV log."""

from __future__ import annotations

from edge.lms.cctv.cctv_log import CctvLog
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
    "CctvLog",
    "CctvProxy",
    "ProxyError",
    "VideoTickets",
    "live_path",
    "playback_path",
    "snapshot_path",
]
