"""What the routers depend on: the injected services (no globals) and the local-auth hook."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Annotated, Protocol

from fastapi import Depends, Request

from edge.lms.config import LmsConfig
from edge.lms.registry import Registry
from edge.lms.router import Router
from edge.lms.store import Store
from shared.mqtt import MqttClient


class CloudStatus(Protocol):
    """What the API shows about the cloud side (the link and its outbox)."""

    @property
    def connected(self) -> bool: ...

    def outbox_pending(self) -> int: ...


@dataclass
class Services:
    """Everything the API needs, built by ``edge.lms.__main__`` and handed to :func:`create_app`."""

    config: LmsConfig
    store: Store
    registry: Registry
    router: Router
    site_mqtt: MqttClient
    cloud: CloudStatus | None
    version: str
    started_at: float = field(default_factory=time.time)


async def get_services(request: Request) -> Services:
    """The app's services (``async``: a plain ``def`` dependency would cost a thread-pool hop per request)."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
"""Route parameter type that injects the :class:`Services`."""


async def require_operator(request: Request) -> None:
    """Local authentication hook for every route except ``/api/health``.

    The walking skeleton has no local auth yet: this accepts every request. The local-auth issue replaces
    the body (operator accounts or API keys checked here), and every protected router already depends on it.
    """
    return None
