"""The LMS (Light Management Service): one per school site.

It bridges the site's agents (local Mosquitto broker, paho-mqtt via ``shared.mqtt``) to the cloud (AWS IoT
Core, awscrt), keeps working when the cloud is unreachable (a durable SQLite outbox), and serves the local
FastAPI web API the seeds specify (docs/seeds.md#the-lmss-local-api).
"""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

DIST = "classtop-fleet"
#: the project file of the source tree this package runs from (the LMS image copies it: infra/lms/Dockerfile)
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _version() -> str:
    """The version of ``pyproject.toml`` (the one source) of the tree this code runs from, else the installed
    distribution's; ``0.0.0`` only when neither exists."""
    try:
        project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8")).get("project", {})
        if project.get("name") == DIST and isinstance(project.get("version"), str):
            return str(project["version"])
    except (OSError, tomllib.TOMLDecodeError):
        pass
    try:
        return metadata.version(DIST) or "0.0.0"  # None: a distribution directory without its METADATA
    except metadata.PackageNotFoundError:
        return "0.0.0"


__version__ = _version()

__all__ = ["__version__"]
