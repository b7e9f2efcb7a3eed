"""``classtop-agent install`` / ``enrol`` without a network: the files they write, and what they refuse.
(With a real LMS and the installed wheel: tests/integration/enrollment/test_agent_install_lms.py.)"""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path

import pytest

from edge.agent import cli
from edge.agent.config import load_config
from edge.agent.config_models import EnrolmentSettings
from edge.agent.enrolment_setup import SetupError, check_pin, confirm, without_enroll, write_enroll
from edge.agent.install import InstallError, InstallLayout, install
from infra import agent_package

HASH = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32


def _layout(tmp_path: Path) -> InstallLayout:
    return InstallLayout(config_dir=tmp_path / "etc", state_dir=tmp_path / "state", unit_dir=tmp_path / "units",
                         executable="/v/bin/classtop-agent")  # fmt: skip


def _settings(tmp_path: Path, url: str = "https://lms.school:8000", ca_hash: str = HASH) -> EnrolmentSettings:
    return EnrolmentSettings(url=url, ca_hash=ca_hash, token_file=tmp_path / "etc" / "enroll-token")


def test_install_writes_a_valid_first_config_and_keeps_an_existing_one(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    done = install(layout, agent_id="room-7", system=False)
    assert len(done) == 2 and layout.unit.is_file()
    config = load_config(layout.config, env={})
    assert (config.agent_id, config.state_dir, config.enroll) == ("room-7", layout.state_dir, None)
    assert stat.S_IMODE(layout.config.stat().st_mode) == 0o640
    layout.config.write_text("metrics_s = 30\n" + layout.config.read_text())
    assert "kept" in install(layout, agent_id="other", system=False)[0]
    assert load_config(layout.config, env={}).metrics_s == 30


@pytest.mark.skipif(os.geteuid() == 0, reason="as root the system part would really run")
def test_install_of_the_service_needs_root_and_writes_nothing_without(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    with pytest.raises(InstallError, match="needs root"):
        install(layout, system=True)
    assert not (tmp_path / "etc").exists() and not (tmp_path / "units").exists()


def test_without_enroll_drops_only_that_table() -> None:
    text = ('agent_id = "a"\n# [enroll] a comment stays\n[enroll]   # old\nurl = "https://x"\nca_hash = "y"\n\n'
            '[exec]\nmode = "any"\n[ enroll ]\nurl = "z"\n[log]\nlevel = "DEBUG"\n')  # fmt: skip
    out = without_enroll(text)
    assert out == 'agent_id = "a"\n# [enroll] a comment stays\n[exec]\nmode = "any"\n[log]\nlevel = "DEBUG"\n'


def test_write_enroll_replaces_the_table_keeps_the_rest_and_the_mode(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    install(layout, agent_id="room-8", system=False)
    chowned: list[Path] = []
    if os.geteuid() == 0:  # the config's group is the service user's: it must stay so
        os.chown(layout.config, 0, 65534)
    write_enroll(layout.config, _settings(tmp_path, ca_hash=OTHER), "cte_first", layout.token_file, chowned.append)
    write_enroll(layout.config, _settings(tmp_path), "cte_second", layout.token_file, chowned.append)
    data = tomllib.loads(layout.config.read_text())
    assert data["enroll"] == {"url": "https://lms.school:8000", "ca_hash": HASH, "token_file": str(layout.token_file)}
    assert data["agent_id"] == "room-8" and data["exec"]["mode"] == "allowlist"
    assert layout.token_file.read_text() == "cte_second\n" and chowned == [layout.token_file] * 2
    assert stat.S_IMODE(layout.token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(layout.config.stat().st_mode) == 0o640
    assert load_config(layout.config, env={}).enroll is not None
    if os.geteuid() == 0:
        assert (layout.config.stat().st_uid, layout.config.stat().st_gid) == (0, 65534)


@pytest.mark.parametrize(
    ("config_text", "why"),
    [
        (None, "run `classtop-agent install` first"),
        ("agent_id = [\n", "not TOML"),
        ('agent_id = "a/b"\n', "agent_id"),
        ('agent_id = "a"\nenroll = { url = "https://x", ca_hash = "' + HASH + '" }\n', "not TOML"),
    ],
)
def test_write_enroll_refuses_a_config_it_cannot_edit_and_writes_nothing(
    tmp_path: Path, config_text: str | None, why: str
) -> None:
    config, token_file = tmp_path / "etc" / "agent.toml", tmp_path / "etc" / "enroll-token"
    if config_text is not None:
        config.parent.mkdir()
        config.write_text(config_text)
    with pytest.raises(SetupError) as caught:
        write_enroll(config, _settings(tmp_path), "cte_x", token_file, lambda _p: None)
    assert caught.value.code == 2 and why in caught.value.message
    assert not token_file.exists()
    assert config_text is None or config.read_text() == config_text


def test_the_pin_and_the_confirmation_refuse_anything_else() -> None:
    check_pin(HASH, HASH.upper().replace("SHA256", "sha256"), "https://lms")
    with pytest.raises(SetupError, match=f"has fingerprint {HASH}, not --ca-hash {OTHER}.*token was not sent"):
        check_pin(HASH, OTHER, "https://lms")
    confirm(HASH, lambda _prompt: " YES\n")
    for answer in ("y", "", "yes please", "no"):
        with pytest.raises(SetupError, match="not confirmed"):
            confirm(HASH, lambda _prompt, a=answer: a)  # type: ignore[misc]


@pytest.mark.parametrize(
    "argv",
    [
        ["enrol", "https://lms:8000", "cte_x", "--yes"],  # a script must pin the hash
        ["enrol", "https://lms:8000", "-"],  # stdin holds the token: it cannot also confirm
        ["install", "--bogus"],
        [],
    ],
)
def test_bad_command_lines_exit_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.parse_args(argv)
    assert caught.value.code == 2


def test_enrol_refuses_bad_input_before_any_network(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["enrol", "--config-dir", str(tmp_path), "--no-restart"]
    assert cli.main([*base, "http://192.0.2.1:8000", "cte_x", "--ca-hash", HASH]) == 2
    assert "in clear" in capsys.readouterr().err
    assert cli.main([*base, "https://lms:8000", "cte_x", "--ca-hash", "sha1:00"]) == 2
    for token in ("  ", "cte_a\nb", "cte_" + "x" * 600, "cte é"):
        assert cli.main([*base, "https://lms:8000", token, "--ca-hash", HASH]) == 2
    assert list(tmp_path.iterdir()) == []


def test_the_agent_package_is_the_agent_extra_and_its_code_only(tmp_path: Path) -> None:
    project = tomllib.loads((agent_package.REPO / "pyproject.toml").read_text())["project"]
    reqs = agent_package.requirements(project, "agent")
    names = [r.split(">")[0].split("<")[0].split("=")[0] for r in reqs]
    assert names == ["pydantic", "paho-mqtt", "psutil", "msgspec", "cryptography"]
    staged = agent_package.stage(agent_package.REPO, tmp_path / "src")
    assert sorted(p.name for p in staged.iterdir()) == ["README.md", "edge", "pyproject.toml", "shared"]
    assert sorted(p.name for p in (staged / "edge").iterdir()) == ["__init__.py", "agent"]
    assert (staged / "edge" / "agent" / "classtop-agent.service").is_file()
    meta = tomllib.loads((staged / "pyproject.toml").read_text())
    assert meta["project"]["scripts"] == {"classtop-agent": "edge.agent.cli:main"}
    assert meta["project"]["version"] == project["version"]


def test_a_failed_config_write_puts_the_token_file_back(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    install(layout, agent_id="room-9", system=False)
    layout.token_file.write_text("cte_old\n")
    before = layout.config.read_text()

    def refuse(path: Path) -> None:
        raise PermissionError(13, "denied", str(path))

    with pytest.raises(SetupError, match="nothing changed"):
        write_enroll(layout.config, _settings(tmp_path), "cte_new", layout.token_file, refuse)
    assert layout.token_file.read_text() == "cte_old\n" and layout.config.read_text() == before
    layout.token_file.unlink()
    with pytest.raises(SetupError):
        write_enroll(layout.config, _settings(tmp_path), "cte_new", layout.token_file, refuse)
    assert not layout.token_file.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="the service part needs root")
def test_the_service_part_gives_the_user_its_directories_and_enables_the_unit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Scratch directories, an existing user, and stand-ins for useradd/systemctl alone on PATH: nothing real.
    calls = tmp_path / "calls"
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    for name in ("useradd", "systemctl"):
        (fake_bin / name).write_text(f'#!/bin/sh\necho "{name} $*" >> {calls}\n')
        (fake_bin / name).chmod(0o755)
    monkeypatch.setenv("PATH", str(fake_bin))
    layout = InstallLayout(config_dir=tmp_path / "etc", state_dir=tmp_path / "state", unit_dir=tmp_path / "units",
                           user="nobody", executable="/v/bin/classtop-agent")  # fmt: skip
    done = install(layout, agent_id="room-10", system=True)
    assert done[0] == "user nobody exists" and done[-1].startswith("enabled classtop-agent.service")
    assert calls.read_text().splitlines() == ["systemctl daemon-reload", "systemctl enable classtop-agent.service"]
    nobody = layout.state_dir.stat().st_uid
    assert nobody != 0 and layout.state_dir.stat().st_gid == layout.config.stat().st_gid
    assert layout.config.stat().st_uid == 0 and stat.S_IMODE(layout.config_dir.stat().st_mode) == 0o750


def test_end_of_input_at_the_prompt_is_a_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    def eof(_prompt: str) -> str:
        raise EOFError

    monkeypatch.setattr("builtins.input", eof)
    with pytest.raises(SetupError, match="not confirmed"):
        confirm(HASH, cli._ask)
