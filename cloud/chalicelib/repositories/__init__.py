"""Repositories: the only code that touches the PynamoDB models. They return ``chalicelib.domain`` objects."""

from chalicelib.repositories.agent import AgentRepository
from chalicelib.repositories.command import CommandRepository
from chalicelib.repositories.site import SiteRepository
from chalicelib.repositories.token import TokenRepository

__all__ = ["AgentRepository", "CommandRepository", "SiteRepository", "TokenRepository"]
