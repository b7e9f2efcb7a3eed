"""Lazy package exports: a package's ``__init__`` names what it offers without importing it (PEP 562).

A Lambda function imports only what its own path needs (``docs/deploy.md#cold-starts``): ``from
chalicelib.models import AgentModel`` must load the agent model, not every table's. A package lists its exports in a
``TYPE_CHECKING`` block (what type checkers read) and maps each name to its module with :func:`exports`; the module
is imported on first access and the name cached on the package.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def exports(package: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """The package's ``__getattr__``: ``names`` maps an exported name to the module (relative to ``package``) that
    defines it."""

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
