"""The agent's settings store: ClassTop-style ``{key: str}`` in one JSON file that survives restarts.

Every change is written atomically (temp file in the same directory, ``fsync``, ``os.replace``, ``fsync``
of the directory): after a crash or power cut the file holds either the old or the new settings, never a
mix. A file that cannot be parsed at start-up (which atomic writes make unlikely: a disk error, a hand
edit) is moved aside as ``settings.json.corrupt-<time>`` and the store starts empty, so the agent still
comes up and reports the problem in its log.

The store is bounded (:data:`MAX_KEYS` keys, :data:`MAX_TOTAL_BYTES` of JSON) so that a ``state_update``
carrying every setting always fits in one MQTT message.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shared.files import write_atomic
from shared.messages.checks import MAX_SETTING_VALUE, SETTING_KEY_PATTERN

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MAX_KEYS = 1000
MAX_TOTAL_BYTES = 96 * 1024
_KEY_RE = re.compile(SETTING_KEY_PATTERN)


class SettingsError(ValueError):
    """A change was refused (bad key or value, or the store would grow past its bounds)."""


class SettingsStore:
    """Thread-safe ``{key: str}`` persisted to ``path``. Mutators return whether anything changed."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._values: dict[str, str] = self._load()

    # ------------------------------------------------------------ reads

    def all(self) -> dict[str, str]:
        with self._lock:
            return dict(self._values)

    def get(self, key: str) -> str | None:
        with self._lock:
            return self._values.get(key)

    def __len__(self) -> int:
        with self._lock:
            return len(self._values)

    # ------------------------------------------------------------ writes

    def set(self, key: str, value: str) -> bool:
        return self.update({key: value})

    def update(self, changes: Mapping[str, str]) -> bool:
        """Apply all ``changes`` or none; persist before returning. True when a value changed."""
        for key, value in changes.items():
            _check(key, value)
        with self._lock:
            new = dict(self._values)
            new.update(changes)
            if new == self._values:
                return False
            self._check_bounds(new)
            self._save(new)
            self._values = new
            return True

    def delete(self, key: str) -> bool:
        with self._lock:
            if key not in self._values:
                return False
            new = {k: v for k, v in self._values.items() if k != key}
            self._save(new)
            self._values = new
            return True

    # ------------------------------------------------------------ file

    @staticmethod
    def _check_bounds(values: dict[str, str]) -> None:
        if len(values) > MAX_KEYS:
            raise SettingsError(f"too many settings: at most {MAX_KEYS} keys")
        size = len(json.dumps(values, ensure_ascii=False).encode())
        if size > MAX_TOTAL_BYTES:
            raise SettingsError(f"settings would take {size} bytes: at most {MAX_TOTAL_BYTES}")

    def _save(self, values: dict[str, str]) -> None:
        doc = {"version": FORMAT_VERSION, "settings": values}
        write_atomic(self.path, json.dumps(doc, ensure_ascii=False, indent=1, sort_keys=True).encode())

    def _load(self) -> dict[str, str]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        try:
            return _parse(raw)
        except ValueError as exc:
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            os.replace(self.path, aside)
            log.error("settings file %s is unusable (%s); moved to %s, starting empty", self.path, exc, aside)
            return {}


def _check(key: Any, value: Any) -> None:
    if not isinstance(key, str) or not _KEY_RE.match(key):
        raise SettingsError(f"invalid setting key {key!r}")
    if not isinstance(value, str):
        raise SettingsError(f"setting {key!r}: values are strings")
    if len(value) > MAX_SETTING_VALUE:
        raise SettingsError(f"setting {key!r}: longer than {MAX_SETTING_VALUE} characters")


def _parse(raw: bytes) -> dict[str, str]:
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("settings"), dict):
        raise ValueError("expected {'version': 1, 'settings': {...}}")
    if doc.get("version") != FORMAT_VERSION:
        raise ValueError(f"unknown format version {doc.get('version')!r}")
    values: dict[str, str] = {}
    for key, value in doc["settings"].items():
        try:
            _check(key, value)
        except SettingsError as exc:
            raise ValueError(str(exc)) from None
        values[key] = value
    return values
