"""Builds the services once, lazily, from the environment — or from what :func:`configure` injected.

Production code asks :func:`get`; the local twin and the tests call :func:`configure` first (for example with
a publisher that also delivers to the twin's broker) and :func:`reset` between tests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from chalicelib import models
from chalicelib.adapters.iot import IotDataPublisher, Publisher
from chalicelib.config import Settings
from chalicelib.repositories import AgentRepository, CommandRepository, SiteRepository, TokenRepository
from chalicelib.services import AgentService, CommandService, SiteService, TokenService

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Container:
    settings: Settings
    publisher: Publisher
    commands: CommandService
    agents: AgentService
    sites: SiteService
    tokens: TokenService


@dataclass(slots=True)
class _Overrides:
    settings: Settings | None = None
    publisher: Publisher | None = None
    clock: Clock | None = None


_lock = threading.Lock()
_overrides = _Overrides()
_container: Container | None = None


def configure(
    *,
    settings: Settings | None = None,
    publisher: Publisher | None = None,
    clock: Clock | None = None,
) -> None:
    """Inject adapters (and optionally settings or a clock) for the next :func:`get`. Arguments left as
    ``None`` keep their previous override; the container is rebuilt on next use."""
    global _container
    with _lock:
        if settings is not None:
            _overrides.settings = settings
        if publisher is not None:
            _overrides.publisher = publisher
        if clock is not None:
            _overrides.clock = clock
        _container = None


def reset() -> None:
    """Forget the built container and every override (tests)."""
    global _container, _overrides
    with _lock:
        _container = None
        _overrides = _Overrides()


def get() -> Container:
    global _container
    container = _container
    if container is not None:
        return container
    with _lock:
        if _container is None:
            _container = _build(_overrides)
        return _container


def _build(overrides: _Overrides) -> Container:
    settings = overrides.settings or Settings.from_env()
    clock = overrides.clock or time.time
    models.bind(settings)
    publisher = overrides.publisher or IotDataPublisher(endpoint_url=settings.iot_data_url, region=settings.region)
    agents = AgentRepository(settings.tenant)
    sites = SiteRepository(settings.tenant)
    return Container(
        settings=settings,
        publisher=publisher,
        commands=CommandService(CommandRepository(), agents, publisher, settings, clock),
        agents=AgentService(agents, sites, settings, clock),
        sites=SiteService(sites),
        tokens=TokenService(TokenRepository(), clock),
    )
