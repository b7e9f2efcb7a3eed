"""``classtop-agent install``: the agent's service on this machine — a system user, the config and state
directories, a first ``agent.toml`` and the systemd unit (``classtop-agent.service`` in this package, rendered).

Every path is a parameter (:class:`InstallLayout`), so tests and packagers write into a scratch directory;
``system=False`` writes the files only (no ``useradd``, no ``chown``, no ``systemctl``). Nothing existing is
overwritten but the unit file: an ``agent.toml`` already there is kept as it is (it is the site's).

The layout (docs: ``edge/agent/README.md``):

* ``/etc/classtop-agent/agent.toml`` — the configuration (root-owned, group = the service user, 0640);
* ``/etc/classtop-agent/enroll-token`` — the enrolment token ``classtop-agent enrol`` writes (0600, the user's);
* ``/var/lib/classtop-agent`` — the state directory (the user's, 0750): credentials, pinned CA, outbox, logs;
* ``/etc/systemd/system/classtop-agent.service`` — the unit, running ``<this venv>/bin/classtop-agent run``.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

from shared.files import write_atomic

SERVICE = "classtop-agent"
UNIT_TEMPLATE = "classtop-agent.service"
DEFAULT_STATE_DIR = Path("/var/lib/classtop-agent")


class InstallError(Exception):
    """The install step cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class InstallLayout:
    """Where the agent's files go (the defaults are a real install's)."""

    config_dir: Path = Path("/etc/classtop-agent")
    state_dir: Path = DEFAULT_STATE_DIR
    unit_dir: Path = Path("/etc/systemd/system")
    user: str = SERVICE
    executable: str = field(default_factory=lambda: agent_executable())

    @property
    def config(self) -> Path:
        return self.config_dir / "agent.toml"

    @property
    def token_file(self) -> Path:
        return self.config_dir / "enroll-token"

    @property
    def unit(self) -> Path:
        return self.unit_dir / f"{SERVICE}.service"


def agent_executable() -> str:
    """The ``classtop-agent`` console script beside this interpreter (the venv the agent is installed in), else
    this interpreter with ``-m edge.agent.cli``."""
    script = Path(sys.executable).parent / SERVICE
    return str(script) if script.is_file() else f"{sys.executable} -m edge.agent.cli"


def render_unit(layout: InstallLayout) -> str:
    """The systemd unit for ``layout``. ``StateDirectory=`` (systemd makes and owns it) only for the default
    state directory; any other is made by the installer."""
    from importlib import resources  # here, not at the top: the service's ``run`` step never renders the unit

    text = resources.files("edge.agent").joinpath(UNIT_TEMPLATE).read_text(encoding="utf-8")
    state = ""
    if layout.state_dir == DEFAULT_STATE_DIR:
        state = f"StateDirectory={SERVICE}\nStateDirectoryMode=0750\nConfigurationDirectory={SERVICE}\n"
    return Template(text).substitute(
        USER=layout.user, CONFIG_DIR=layout.config_dir, STATE_DIR=layout.state_dir, CONFIG=layout.config,
        EXEC=layout.executable, STATE_DIRECTIVES=state,
    )  # fmt: skip


def default_agent_id() -> str:
    """This machine's host name as an agent id (1-64 of ``A-Z a-z 0-9 _ -``)."""
    name = re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname().split(".")[0]).strip("-")[:64]
    return name or "agent"


def first_config(agent_id: str, state_dir: Path) -> str:
    """A first ``agent.toml``: the identity and the state directory; ``classtop-agent enrol`` adds ``[enroll]``
    (the broker's address and credentials then come from the LMS). Everything else keeps its default; see
    ``agent.example.toml`` in this package for every key."""
    return (
        "# ClassTop Fleet agent — written by `classtop-agent install`; yours to edit (check: classtop-agent run\n"
        "# --config THIS --validate-config). Every key: agent.example.toml in the edge.agent package.\n"
        f'agent_id = "{agent_id}"\n'
        f'state_dir = "{state_dir}"\n\n'
        "[exec]                 # remote `exec`: nothing runs until you list it (edge/agent/config.py)\n"
        'mode = "allowlist"\n'
        "allowlist = []\n\n"
        "# [enroll] is written by `classtop-agent enrol <url> <token>`.\n"
    )


def install(layout: InstallLayout, *, agent_id: str | None = None, system: bool = True) -> list[str]:
    """Install the agent's service as ``layout`` says; returns what was done, one line each.

    ``system``: also create the user (``useradd --system``), give it the state directory and the config's group,
    and ``systemctl daemon-reload`` + ``enable`` the unit (not started: it starts after ``enrol``)."""
    from edge.agent.config import ConfigError, parse_config  # the config model, only when installing

    done: list[str] = []
    if system:
        _need_root()
        done += _ensure_user(layout)
    layout.config_dir.mkdir(parents=True, exist_ok=True)
    layout.state_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(layout.state_dir, 0o750)
    if layout.config.exists():
        done.append(f"kept {layout.config} (already there)")
    else:
        text = first_config(agent_id or default_agent_id(), layout.state_dir)
        try:
            import tomllib

            parse_config(tomllib.loads(text), env={})
        except ConfigError as exc:
            raise InstallError(f"the first agent.toml would be invalid: {exc}") from None
        write_atomic(layout.config, text, mode=0o640)
        done.append(f"wrote {layout.config}")
    layout.unit_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(layout.unit, render_unit(layout), mode=0o644)
    done.append(f"wrote {layout.unit} (ExecStart={layout.executable} run --config {layout.config})")
    if system:
        try:
            user = pwd.getpwnam(layout.user)
        except KeyError:
            raise InstallError(f"user {layout.user} does not exist after useradd") from None
        os.chown(layout.state_dir, user.pw_uid, user.pw_gid)
        os.chown(layout.config, 0, user.pw_gid)
        os.chmod(layout.config_dir, 0o750)
        os.chown(layout.config_dir, 0, user.pw_gid)
        _run(["systemctl", "daemon-reload"])
        _run(["systemctl", "enable", f"{SERVICE}.service"])
        done.append(f"enabled {SERVICE}.service (it starts after `classtop-agent enrol`)")
    return done


def chown_to_service_user(path: Path, user: str) -> None:
    """Give ``path`` to the service user when running as root and the user exists (the agent reads it)."""
    if os.geteuid() != 0:
        return
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return
    os.chown(path, entry.pw_uid, entry.pw_gid)


def restart_service() -> None:
    _run(["systemctl", "restart", f"{SERVICE}.service"])


def _need_root() -> None:
    if os.geteuid() != 0:
        raise InstallError("installing the service needs root (sudo); --files-only writes the files alone")


def _ensure_user(layout: InstallLayout) -> list[str]:
    try:
        pwd.getpwnam(layout.user)
        return [f"user {layout.user} exists"]
    except KeyError:
        pass
    nologin = shutil.which("nologin") or "/usr/sbin/nologin"
    _run(["useradd", "--system", "--home-dir", str(layout.state_dir), "--no-create-home", "--shell", nologin,
          "--user-group", layout.user])  # fmt: skip
    return [f"created system user {layout.user}"]


def _run(argv: list[str]) -> None:
    if shutil.which(argv[0]) is None:
        raise InstallError(f"{argv[0]} not found: is this a systemd Linux? (--files-only writes the files alone)")
    result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
    if result.returncode != 0:
        raise InstallError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()[:500]}")
