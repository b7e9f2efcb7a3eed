"""The LMS (Light Management Service): one per school site.

It bridges the site's agents (local Mosquitto broker, paho-mqtt via ``shared.mqtt``) to the cloud (AWS IoT
Core, awscrt), keeps working when the cloud is unreachable (a durable SQLite outbox), and serves the local
FastAPI web API the seeds specify (docs/seeds.md#the-lmss-local-api).
"""

from __future__ import annotations

from importlib import metadata

try:
    __version__ = metadata.version("classtop-fleet")
except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["__version__"]
