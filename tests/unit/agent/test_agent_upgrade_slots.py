"""Install slots of agent upgrades: safe unpacking, switch, confirm, roll back (edge/agent/upgrade_slots.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.agent.upgrade import UpgradeSettings
from edge.agent.upgrade_slots import Slots
from shared.agent_packages import PackageError
from tests.fixtures.agent_packages import archive, tiny_package


@pytest.fixture
def slots(tmp_path: Path) -> Slots:
    s = Slots(tmp_path / "root")
    s.seed("1.0.0", tiny_package("1.0.0"))
    return s


def test_switch_then_confirm_keeps_the_new_version_and_the_previous_one(slots: Slots) -> None:
    slots.install("1.1.0", tiny_package("1.1.0"))
    pending = slots.switch("1.1.0", 60)
    assert slots.current() == "1.1.0" and pending.previous == "1.0.0"
    assert not slots.confirm("1.0.0")  # the old version coming online confirms nothing
    assert slots.confirm("1.1.0") and slots.pending() is None
    assert (slots.last() or {})["result"] == "confirmed"
    assert slots.expire(now=pending.deadline + 1) is None  # confirmed: no rollback


def test_an_unconfirmed_upgrade_rolls_back_after_its_deadline(slots: Slots) -> None:
    slots.install("1.1.0", tiny_package("1.1.0"))
    pending = slots.switch("1.1.0", 60)
    assert slots.expire(now=pending.deadline - 1) is None and slots.current() == "1.1.0"
    assert slots.expire(now=pending.deadline + 1) == pending
    assert slots.current() == "1.0.0" and slots.pending() is None
    assert (slots.last() or {})["result"] == "rolled_back"


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (archive({"VERSION": b"1.1.0", "../evil.py": b""}), "not a plain relative file"),
        (archive({"VERSION": b"1.1.0", "/etc/evil.py": b""}), "not a plain relative file"),
        (archive({"VERSION": b"1.1.0"}, link="edge/link"), "not a plain relative file"),
        (archive({"VERSION": b"9.9.9"}), "VERSION file says '9.9.9'"),
        (archive({"edge/__init__.py": b""}), "VERSION file says None"),
        (b"not a tar at all", "not a readable .tar.gz"),
    ],
)
def test_bad_archives_are_refused_and_leave_nothing(slots: Slots, data: bytes, why: str) -> None:
    with pytest.raises(PackageError, match=why):
        slots.install("1.1.0", data)
    assert sorted(p.name for p in slots.versions.iterdir()) == ["1.0.0"] and slots.current() == "1.0.0"


def test_the_running_version_is_not_reinstalled(slots: Slots) -> None:
    with pytest.raises(PackageError, match="is the one running"):
        slots.install("1.0.0", tiny_package("1.0.0"))


def test_upgrade_settings_want_an_absolute_root_and_a_real_key(tmp_path: Path) -> None:
    key = "A" * 43 + "="
    with pytest.raises(ValueError, match="absolute path"):
        UpgradeSettings(root=Path("relative"), release_public_key=key)
    with pytest.raises(ValueError, match="not a base64 Ed25519 public key"):
        UpgradeSettings(root=tmp_path, release_public_key="!" * 44)
    assert UpgradeSettings(root=tmp_path, release_public_key=key).root == tmp_path
