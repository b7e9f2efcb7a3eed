"""The latest full upload of one kind of data of one owner (``snapshot`` table): a ClassTop client's courses and
schedule, an agent's camera configurations and camera status."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The latest full upload of one kind of data (JSON-able ``body``) of one owner."""

    owner: str
    kind: str
    body: Any
    version: int
    updated_at: float
    size: int = 0
