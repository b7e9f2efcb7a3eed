"""boto3 wrappers. Clients are injected or created lazily once; AWS errors become ``chalicelib.errors``.

The names below load on first use (``chalicelib/lazy.py``): boto3 is imported by the first client made."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.lazy import exports

if TYPE_CHECKING:
    from chalicelib.adapters.iot import IotDataPublisher, Publisher, RecordingPublisher

__getattr__ = exports(__name__, {"IotDataPublisher": "iot", "Publisher": "iot", "RecordingPublisher": "iot"})

__all__ = ["IotDataPublisher", "Publisher", "RecordingPublisher"]
