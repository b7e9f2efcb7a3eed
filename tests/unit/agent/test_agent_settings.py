"""The settings store: persistence across instances, atomic writes, bounds, recovery from a bad file."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from edge.agent.settings import MAX_KEYS, SettingsError, SettingsStore


def test_values_survive_a_new_instance(tmp_path: Path) -> None:
    path = tmp_path / "state" / "settings.json"
    store = SettingsStore(path)
    assert store.all() == {}
    assert store.set("theme_mode", "dark") is True
    assert store.update({"font_size": "18", "show_clock": "true"}) is True
    assert store.set("theme_mode", "dark") is False  # no change, no write

    again = SettingsStore(path)
    assert again.all() == {"theme_mode": "dark", "font_size": "18", "show_clock": "true"}
    assert again.get("font_size") == "18" and again.get("missing") is None
    doc = json.loads(path.read_text())
    assert doc == {"version": 1, "settings": again.all()}


def test_write_leaves_no_temp_files_and_a_private_file(tmp_path: Path) -> None:
    store = SettingsStore(tmp_path / "settings.json")
    for i in range(20):
        store.set("k", str(i))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["settings.json"]
    assert (tmp_path / "settings.json").stat().st_mode & 0o777 == 0o600


def test_failed_write_keeps_the_old_file_and_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "settings.json"
    store = SettingsStore(path)
    store.set("a", "1")
    before = path.read_bytes()

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space"):
        store.set("a", "2")
    monkeypatch.undo()

    assert path.read_bytes() == before
    assert store.get("a") == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["settings.json"]
    assert SettingsStore(path).get("a") == "1"


def test_batch_is_all_or_nothing(tmp_path: Path) -> None:
    store = SettingsStore(tmp_path / "settings.json")
    store.set("a", "1")
    with pytest.raises(SettingsError, match="invalid setting key"):
        store.update({"b": "2", "bad key!": "3"})
    with pytest.raises(SettingsError, match="strings"):
        store.update({"b": 2})  # type: ignore[dict-item]
    assert store.all() == {"a": "1"}


def test_bounds(tmp_path: Path) -> None:
    store = SettingsStore(tmp_path / "settings.json")
    with pytest.raises(SettingsError, match="too many"):
        store.update({f"k{i}": "v" for i in range(MAX_KEYS + 1)})
    with pytest.raises(SettingsError, match="bytes"):
        store.update({f"k{i}": "x" * 8000 for i in range(20)})
    with pytest.raises(SettingsError, match="longer than"):
        store.set("k", "x" * 10_000)
    assert store.all() == {}


def test_corrupt_file_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text("{not json")
    store = SettingsStore(path)
    assert store.all() == {}
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("settings.json.corrupt-")]
    assert len(aside) == 1 and aside[0].read_text() == "{not json"
    store.set("a", "1")
    assert SettingsStore(path).all() == {"a": "1"}


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    store = SettingsStore(path)

    def writer(n: int) -> None:
        for i in range(10):
            store.set(f"w{n}-{i}", str(i))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(SettingsStore(path).all()) == 50
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]


def test_delete(tmp_path: Path) -> None:
    store = SettingsStore(tmp_path / "settings.json")
    store.set("a", "1")
    assert store.delete("a") is True and store.delete("a") is False
    assert SettingsStore(tmp_path / "settings.json").all() == {}
