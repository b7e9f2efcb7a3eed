"""Repositories: the only code that touches the PynamoDB models. They return ``chalicelib.domain`` objects.

The names below load on first use (``chalicelib/lazy.py``), each with its own model only."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.lazy import exports

if TYPE_CHECKING:
    from chalicelib.repositories.agent import AgentRepository
    from chalicelib.repositories.command import CommandRepository
    from chalicelib.repositories.site import SiteRepository
    from chalicelib.repositories.token import TokenRepository

__getattr__ = exports(__name__, {"AgentRepository": "agent", "CommandRepository": "command",
                                 "SiteRepository": "site", "TokenRepository": "token"})

__all__ = ["AgentRepository", "CommandRepository", "SiteRepository", "TokenRepository"]
