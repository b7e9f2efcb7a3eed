"""Agent upgrades on the agent: install slots (safe unpacking, switch, confirm, roll back) and the checks
``upgrade_agent`` makes before anything changes (edge/agent/upgrade_slots.py, edge/agent/upgrade.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.agent import config_structs
from edge.agent.config_models import UpgradeSettings
from edge.agent.upgrade import UpgradeCommands
from edge.agent.upgrade_slots import Slots
from edge.agent.workers import WorkerPool
from shared.agent_packages import PackageError
from shared.commands import UpgradeAgentParams
from shared.errors import CommandError
from shared.messages.structs import Command, build
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


def upgrade_command(version: str = "1.1.0") -> tuple[Command, UpgradeAgentParams]:
    params = {"url": "http://127.0.0.1:9/p", "version": version, "sha256": "0" * 64,
              "signature": "A" * 86 + "==", "rollback_s": 60}  # fmt: skip
    return build(Command, request_id="r-1", command="upgrade_agent", params=params), UpgradeAgentParams(**params)


def test_upgrade_agent_refuses_before_touching_anything(tmp_path: Path) -> None:
    pool = WorkerPool(1)
    restarts: list[bool] = []
    try:
        off = UpgradeCommands(None, pool, lambda: restarts.append(True), running_version="1.0.0")
        with pytest.raises(CommandError, match="upgrades are not configured"):
            off.upgrade_agent(*upgrade_command())
        settings = build(config_structs.UpgradeSettings, root=tmp_path / "root", release_public_key="A" * 43 + "=")
        bare = UpgradeCommands(settings, pool, lambda: restarts.append(True), running_version="1.0.0")
        with pytest.raises(CommandError, match="no installed version under"):
            bare.upgrade_agent(*upgrade_command())
        Slots(settings.root).seed("1.0.0", tiny_package("1.0.0"))
        with pytest.raises(CommandError, match=r"not newer than the running 1\.0\.0"):
            bare.upgrade_agent(*upgrade_command("0.9.9"))
        failed = bare.upgrade_agent(*upgrade_command())  # nothing listens on port 9
        with pytest.raises(CommandError, match="download failed"):
            failed.result(30)
        assert sorted(p.name for p in (settings.root / "versions").iterdir()) == ["1.0.0"] and restarts == []
    finally:
        pool.close(wait=True)
