"""Builds the services lazily, each on first use, from the environment — or from what :func:`configure` injected.

Production code asks :func:`get`; the local twin and the tests call :func:`configure` first (for example with
a publisher that also delivers to the twin's broker) and :func:`reset` between tests.

A Lambda function imports only what its own path needs (``docs/deploy.md#cold-starts``): :func:`get` reads the
settings and binds the table models, and each service (with its repositories, models and clients) is imported and
built the first time it is asked for — the ``site_heartbeat`` function never loads the alert tables or boto3's S3.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import TYPE_CHECKING

from chalicelib import models
from chalicelib.config import Settings
from chalicelib.parts.adapters import Clock, Overrides
from chalicelib.parts.agent_data_services import AgentDataServices
from chalicelib.parts.dashboard_services import DashboardServices

if TYPE_CHECKING:
    from chalicelib.adapters.alert_topic import AlertTopic
    from chalicelib.adapters.iot import Publisher
    from chalicelib.adapters.media import MediaStore
    from chalicelib.adapters.registry import IdentityIssuer
    from chalicelib.adapters.shadows import ShadowStore
    from chalicelib.adapters.user_pool import UserPool
    from chalicelib.adapters.webhooks import WebhookSender


class Container(DashboardServices, AgentDataServices):
    """The settings, the clock, the adapters and every service; each part is built on first use
    (:class:`~chalicelib.parts.lazy_part.LazyPart`): adapters (``parts/adapters.py``), repositories
    (``parts/repositories.py``), the fleet's services (``parts/fleet_services.py``), the agents' data
    (``parts/agent_data_services.py``) and the dashboard's (``parts/dashboard_services.py``)."""


_lock = threading.Lock()
_overrides = Overrides()
_container: Container | None = None


def configure(
    *,
    settings: Settings | None = None,
    publisher: Publisher | None = None,
    clock: Clock | None = None,
    issuer: IdentityIssuer | None = None,
    media: MediaStore | None = None,
    shadows: ShadowStore | None = None,
    alert_topic: AlertTopic | None = None,
    webhooks: WebhookSender | None = None,
    user_pool: UserPool | None = None,
) -> None:
    """Inject adapters (and optionally settings or a clock) for the next :func:`get`. Arguments left as
    ``None`` keep their previous override; the container is rebuilt on next use."""
    global _container
    given = {"settings": settings, "publisher": publisher, "clock": clock, "issuer": issuer, "media": media,
             "shadows": shadows, "alert_topic": alert_topic, "webhooks": webhooks, "user_pool": user_pool}
    with _lock:
        for name, value in given.items():
            if value is not None:
                setattr(_overrides, name, value)
        _container = None


def reset() -> None:
    """Forget the built container and every override (tests)."""
    global _container, _overrides
    with _lock:
        _container = None
        _overrides = Overrides()


def get() -> Container:
    global _container
    container = _container
    if container is not None:
        return container
    with _lock:
        if _container is None:
            _container = _build(_overrides)
        return _container


def _build(overrides: Overrides) -> Container:
    settings = overrides.settings or Settings.from_env()
    models.bind(settings)
    return Container(settings, overrides.clock or time.time, replace(overrides))  # later configure()s: not ours

