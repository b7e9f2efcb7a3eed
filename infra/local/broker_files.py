"""A Mosquitto broker's files in its work directory, written so that the broker can read them.

Started as root, Mosquitto drops to the ``mosquitto`` user *before* it reads ``password_file``, ``acl_file``, its
TLS files and the dynamic-security file (docs/field-notes.md#mosquitto): every file written here is given to that
user (0600 when we can ``chown``, readable by all otherwise), and every directory above the work directory must be
traversable by it. :class:`~infra.local.mosquitto.MosquittoProcess` uses these; so can a test that writes a
broker's files itself.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

BROKER_USER = "mosquitto"  # Mosquitto's compiled-in default for `user`
_SEARCH_DIRS = ("/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin")
_PLUGIN_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib", "/usr/local/lib")
DYNSEC_PLUGIN = "mosquitto_dynamic_security.so"


class MosquittoError(RuntimeError):
    """The broker could not be started, reloaded or configured."""


@dataclass(frozen=True, slots=True)
class BrokerTls:
    """The broker's TLS listener: its address and the site CA's files (``edge.lms.tls.site_tls`` writes them)."""

    ca_file: Path
    cert_file: Path
    key_file: Path
    port: int | None = None  # None: a free port
    host: str = "0.0.0.0"  # the school LAN


class BrokerWorkdir:
    """A broker's work directory: where its config, password, ACL, TLS, data and log files are."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir).absolute()
        if any(c.isspace() for c in str(self.workdir)):
            raise ValueError(f"Mosquitto config paths cannot contain whitespace: {self.workdir}")
        self.log_offset = 0  # where this run of the broker started writing its log

    @property
    def tls_dir(self) -> Path:
        """Where the broker's copies of the TLS files are (readable by the broker's user)."""
        return self.workdir / "tls"

    @property
    def config_path(self) -> Path:
        return self.workdir / "mosquitto.conf"

    @property
    def password_file(self) -> Path:
        return self.workdir / "passwd"

    @property
    def acl_file(self) -> Path:
        return self.workdir / "acl"

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def dynsec_file(self) -> Path:
        """The dynamic-security plugin's JSON file (``site-dynsec`` template)."""
        return self.data_dir / "dynamic-security.json"

    @property
    def log_path(self) -> Path:
        return self.workdir / "mosquitto.log"

    def log_since_start(self) -> str:
        """What the broker logged since :attr:`log_offset`."""
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(self.log_offset)
                return fh.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_since_start().splitlines()[-lines:])


def open_acl_text() -> str:
    """An ACL that lets every authenticated client use every topic (except ``$``-topics)."""
    return "# No topic restrictions for authenticated clients.\npattern readwrite #\n"


def find_executable(name: str) -> str:
    """Resolve ``name`` on PATH, then in the sbin/bin dirs (/usr/sbin is not on a non-root PATH)."""
    if os.sep in name:
        return name
    found = shutil.which(name)
    if found:
        return found
    for directory in _SEARCH_DIRS:
        candidate = Path(directory) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise MosquittoError(
        f"{name!r} not found: install Debian's mosquitto and mosquitto-clients packages "
        "(`make deps-system` as root)"
    )


def find_dynsec_plugin() -> str:
    """The path of Mosquitto's dynamic-security plugin (shipped in Debian's mosquitto package)."""
    for directory in _PLUGIN_DIRS:
        candidate = Path(directory) / DYNSEC_PLUGIN
        if candidate.is_file():
            return str(candidate)
    raise MosquittoError(f"{DYNSEC_PLUGIN} not found in {', '.join(_PLUGIN_DIRS)}: install Debian's mosquitto")


def check_credentials(users: Mapping[str, str]) -> None:
    for user, password in users.items():
        if not user or any(c in user for c in ":\r\n") or user != user.strip():
            raise ValueError(f"invalid MQTT username {user!r}")
        if not password or any(c in password for c in "\r\n"):
            raise ValueError(f"invalid password for MQTT user {user!r}")


def _broker_ids() -> tuple[int, int] | None:
    """(uid, gid) Mosquitto will switch to, or None when it keeps ours (not root / no such user)."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(BROKER_USER)
    except KeyError:
        return None  # Mosquitto then refuses to start as root and says so in its log.
    return entry.pw_uid, entry.pw_gid


def give_to_broker(path: Path, mode: int) -> None:
    """Let the broker (which drops to user `mosquitto` when started as root) read/write ``path``."""
    ids = _broker_ids()
    if ids is None:
        path.chmod(mode)
        return
    try:
        os.chown(path, *ids)
        path.chmod(mode)
    except OSError:
        # Not allowed to chown (e.g. in a user namespace): fall back to world-readable.
        path.chmod(mode | 0o055 if path.is_dir() else mode | 0o044)

def write_password_file(path: Path, users: Mapping[str, str], passwd_executable: str = "mosquitto_passwd") -> None:
    """Write ``user:password`` lines to a temp file, hash them there, then swap the file in."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(f"{user}:{password}\n" for user, password in users.items()))
    tmp.chmod(0o600)
    if users:
        # -U hashes every plain-text password of the file in place.
        result = subprocess.run(
            [find_executable(passwd_executable), "-U", str(tmp)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if result.returncode != 0:
            tmp.unlink(missing_ok=True)
            raise MosquittoError(
                f"mosquitto_passwd -U failed ({result.returncode}): "
                f"{(result.stderr or result.stdout).strip()}"
            )
    give_to_broker(tmp, 0o600)
    os.replace(tmp, path)

def write_acl_file(path: Path, acl_text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(acl_text if acl_text.endswith("\n") else acl_text + "\n")
    give_to_broker(tmp, 0o600)
    os.replace(tmp, path)

def install_tls(tls_dir: Path, tls: BrokerTls) -> None:
    """Copy the CA, certificate and key where the broker (as user `mosquitto`) can read them."""
    tls_dir.mkdir(exist_ok=True)
    tls_dir.chmod(0o755)
    for source, name, mode in (
        (tls.ca_file, "ca.crt", 0o644),
        (tls.cert_file, "server.crt", 0o644),
        (tls.key_file, "server.key", 0o600),
    ):
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            raise MosquittoError(f"TLS file {source}: {exc.strerror or exc}") from None
        target = tls_dir / name
        tmp = target.with_name(f".{name}.tmp")
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        give_to_broker(tmp, mode)
        os.replace(tmp, target)

def init_dynsec(path: Path, admin: tuple[str, str], ctrl_executable: str = "mosquitto_ctrl") -> None:
    """Create the plugin's JSON file with the admin client, once (it then belongs to the broker)."""
    if path.exists():
        return
    user, password = admin
    tmp = path.with_name(f".{path.name}.init")
    tmp.unlink(missing_ok=True)
    result = subprocess.run(
        [find_executable(ctrl_executable), "dynsec", "init", str(tmp), user, password],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if result.returncode != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        raise MosquittoError(
            f"mosquitto_ctrl dynsec init failed ({result.returncode}): {(result.stderr or result.stdout).strip()}"
        )
    give_to_broker(tmp, 0o600)
    os.replace(tmp, path)

def write_dynsec(path: Path, document: Mapping[str, object]) -> None:
    """Write the plugin's JSON file from ``document`` (then it belongs to the broker, which rewrites it)."""
    tmp = path.with_name(f".{path.name}.init")
    tmp.write_text(json.dumps(document, indent=1) + "\n")
    give_to_broker(tmp, 0o600)
    os.replace(tmp, path)

def check_traversable(workdir: Path) -> None:
    """Fail early if the `mosquitto` user could not reach the work directory."""
    ids = _broker_ids()
    if ids is None:
        return
    uid, gid = ids
    for directory in workdir.parents:
        st = directory.stat()
        if st.st_uid == uid:
            ok = bool(st.st_mode & 0o100)
        elif st.st_gid == gid:
            ok = bool(st.st_mode & 0o010)
        else:
            ok = bool(st.st_mode & 0o001)
        if not ok:
            raise MosquittoError(
                f"{directory} is not traversable by user {BROKER_USER!r}, which Mosquitto switches "
                f"to when started as root: choose a work directory outside it (not pytest's tmp_path)"
            )
