"""Standard-library and library modules the agent names at import time but uses only on first use.

A module that the agent, or a library it imports (paho, msgspec), imports at the top of a file but touches only in a
rare path costs the idle agent its whole import graph: ``urllib.request`` (paho's proxy lookup from the
environment, which it skips without PySocks; the agent's enrolment and upgrade downloads) pulls in
``http.client`` and the ``email`` package (~2.5 MB); ``tarfile`` (upgrades) ~0.8 MB; ``msgspec.inspect`` (type
introspection the agent never calls; msgspec's ``__init__`` imports it) the ``decimal`` module and msgspec's JSON
schema code. :func:`defer` puts a stand-in in ``sys.modules`` for each: ``import urllib.request`` (and
``from urllib import request``) binds the stand-in, and the first attribute read or written through it imports
the real module, once, under a lock; every later access goes to the real module. ``from urllib.request import
urlopen`` imports at once (the name is read at import time), as before.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import threading
import types
from typing import Any

__all__ = ["DEFERRED", "defer"]

#: deferred in the agent (edge/agent/__init__.py); each is imported on its first use
DEFERRED = ("urllib.request", "urllib.error", "tarfile", "shutil", "tempfile", "msgspec.inspect")

_lock = threading.RLock()


class _Deferred(types.ModuleType):
    """Stands in for a module until an attribute is read or written, then forwards everything to it."""

    def __getattr__(self, attr: str) -> Any:  # only for names not in the stand-in's own __dict__
        return getattr(_real(self), attr)

    def __setattr__(self, attr: str, value: Any) -> None:
        setattr(_real(self), attr, value)

    def __delattr__(self, attr: str) -> None:
        delattr(_real(self), attr)

    def __dir__(self) -> list[str]:
        return dir(_real(self))


def _real(stand_in: _Deferred) -> types.ModuleType:
    """The real module behind ``stand_in``, imported on the first call."""
    d = object.__getattribute__(stand_in, "__dict__")
    real = d.get("_deferred_real")
    if real is not None:
        return real  # type: ignore[no-any-return]
    with _lock:
        real = d.get("_deferred_real")
        if real is None:
            name = d["__name__"]
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]
            real = importlib.import_module(name)
            d["_deferred_real"] = real
    return real  # type: ignore[no-any-return]


def defer(names: tuple[str, ...] = DEFERRED) -> list[str]:
    """Stand-ins for the modules ``names`` not imported yet (a name that cannot be found is left alone); the names
    deferred. A child of a top-level package not imported yet (``msgspec``, whose ``__init__`` imports the child) is
    found on the package's path without importing the package; other parents are imported (``urllib``: small)."""
    done = []
    with _lock:
        for name in names:
            if name in sys.modules:
                continue
            parent, _, child = name.rpartition(".")
            if parent and parent not in sys.modules and "." not in parent:
                spec = _child_spec(parent, child)
            else:
                spec = importlib.util.find_spec(name)
            if spec is None:
                continue
            stand_in = _Deferred(name)
            d = object.__getattribute__(stand_in, "__dict__")
            d["__spec__"] = spec
            d["__file__"] = spec.origin
            d["__package__"] = parent if spec.submodule_search_locations is None else name
            sys.modules[name] = stand_in
            if parent and parent in sys.modules:
                parent_module = sys.modules[parent]
                if child not in vars(parent_module):
                    setattr(parent_module, child, stand_in)
            done.append(name)
    return done


def _child_spec(parent: str, child: str) -> importlib.machinery.ModuleSpec | None:
    """The spec of ``parent.child`` without importing ``parent`` (whose ``__init__`` may import ``child``)."""
    parent_spec = importlib.util.find_spec(parent)
    if parent_spec is None or not parent_spec.submodule_search_locations:
        return None
    return importlib.machinery.PathFinder.find_spec(f"{parent}.{child}", list(parent_spec.submodule_search_locations))
