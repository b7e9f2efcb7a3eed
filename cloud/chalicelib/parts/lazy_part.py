"""The container's parts, each built on first use: the :class:`LazyPart` descriptor and :class:`LazyParts`, the
object that holds what they built."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar, overload

P = TypeVar("P", bound="LazyParts")
T = TypeVar("T")


class LazyParts:
    """What the :class:`LazyPart` descriptors of a class (the :class:`~chalicelib.container.Container`) built."""

    def __init__(self) -> None:
        self._parts: dict[str, Any] = {}
        self._lock = threading.RLock()


class LazyPart(Generic[P, T]):
    """A part of the :class:`~chalicelib.container.Container` built by ``build(container)`` on first access, once
    (under the container's lock: a part's build may ask for other parts)."""

    def __init__(self, build: Callable[[P], T]) -> None:
        self._build = build
        self._name = build.__name__

    @overload
    def __get__(self, container: None, owner: type[P]) -> LazyPart[P, T]: ...
    @overload
    def __get__(self, container: P, owner: type[P]) -> T: ...

    def __get__(self, container: P | None, owner: type[P]) -> LazyPart[P, T] | T:
        if container is None:
            return self
        parts = container._parts
        if self._name not in parts:
            with container._lock:
                if self._name not in parts:
                    parts[self._name] = self._build(container)
        value: T = parts[self._name]
        return value
