"""boto3 wrappers. Clients are injected or created lazily once; AWS errors become ``chalicelib.errors``."""

from chalicelib.adapters.iot import IotDataPublisher, Publisher, RecordingPublisher

__all__ = ["IotDataPublisher", "Publisher", "RecordingPublisher"]
