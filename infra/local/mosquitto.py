"""Run a Mosquitto broker as a child process with a config rendered from ``infra/mosquitto/*.conf.tmpl``.

Used by the local twin's supervisor (the site broker and the IoT Core stand-in) and by the test fixtures.

Things this module takes care of (see docs/field-notes.md, "Mosquitto"):

* Started as root, Mosquitto drops to the ``mosquitto`` user *before* it reads ``password_file`` and
  ``acl_file`` (and it writes its persistence file as that user). The work directory is made
  traversable (0755), the password/ACL files are given to that user (0600 when we can ``chown``,
  0644 otherwise) and the data directory is owned by it. Every parent directory must be traversable
  by that user too (pytest's ``tmp_path`` lives under a 0700 directory: use another temp dir).
* ``log_dest stderr`` (unbuffered) into :attr:`MosquittoProcess.log_path`.
* The broker is ready when the TCP port accepts connections *and* its log says it is running (a port
  taken by someone else would accept connections too).
* ``SIGHUP`` re-reads the password and ACL files: :meth:`MosquittoProcess.reload` waits until it has.
* TLS (``tls=BrokerTls(...)``, site templates): a second listener for the school LAN with the site CA's
  server certificate. The files are copied into the work directory (``tls/``), the key given to the
  ``mosquitto`` user (0600), because the broker reads them after dropping privileges — at start and again on
  :meth:`MosquittoProcess.reload` (SIGHUP), which re-copies them first (a renewed certificate).
* The plain listener binds a loopback address only; another address needs ``allow_plain_lan=True``, an
  explicit opt-in that is logged.
* ``template="site-dynsec"``: the dynamic-security plugin instead of password/ACL files. The plugin's JSON
  file (:attr:`MosquittoProcess.dynsec_file`) is created once with ``mosquitto_ctrl dynsec init FILE ADMIN
  PASSWORD`` (``dynsec_admin``) inside the data directory, because the broker rewrites it (as user
  ``mosquitto``) through a ``.new`` file next to it on every change; it is kept across restarts.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from string import Template
from types import TracebackType
from typing import IO, Literal, Self

from shared.mqtt.settings import is_loopback

__all__ = [
    "DYNSEC_PLUGIN",
    "TEMPLATE_DIR",
    "BrokerTls",
    "MosquittoError",
    "MosquittoProcess",
    "find_dynsec_plugin",
    "free_port",
    "open_acl_text",
]

TEMPLATE_DIR = Path(__file__).resolve().parents[1] / "mosquitto"
"""Where ``site.conf.tmpl`` and ``cloud.conf.tmpl`` live."""

TemplateName = Literal["site", "site-dynsec", "cloud"]

START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
RELOAD_TIMEOUT = 5.0
_RUNNING_MARK = " running"  # "mosquitto version 2.0.11 running"
_RELOAD_MARK = "Reloading config."
_BROKER_USER = "mosquitto"  # Mosquitto's compiled-in default for `user`
_SEARCH_DIRS = ("/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin")
_PLUGIN_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib", "/usr/local/lib")
DYNSEC_PLUGIN = "mosquitto_dynamic_security.so"


log = logging.getLogger(__name__)


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


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` that is free right now (the OS picks it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def open_acl_text() -> str:
    """An ACL that lets every authenticated client use every topic (except ``$``-topics)."""
    return "# No topic restrictions for authenticated clients.\npattern readwrite #\n"


def _find_executable(name: str) -> str:
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


def _check_credentials(users: Mapping[str, str]) -> None:
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
        entry = pwd.getpwnam(_BROKER_USER)
    except KeyError:
        return None  # Mosquitto then refuses to start as root and says so in its log.
    return entry.pw_uid, entry.pw_gid


def _write_atomic(path: Path, text: str, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(mode)
    os.replace(tmp, path)


class MosquittoProcess:
    """One Mosquitto broker process with its own config, password file, ACL file and log.

    ``template`` is ``"site"`` (authenticated, ACL, persistence), ``"site-dynsec"`` (authenticated by the
    dynamic-security plugin; give ``dynsec_admin=(user, password)``, no users and no ACL) or ``"cloud"`` (the
    anonymous IoT Core stand-in), or a path to another ``string.Template`` config. ``users`` maps usernames
    to plain-text passwords (hashed with ``mosquitto_passwd``); ``acl_text`` is a Mosquitto ACL file (default: every
    authenticated client may use every topic). With ``port=None`` a free port is picked (and re-picked if
    another process grabs it before the broker binds).
    """

    def __init__(
        self,
        workdir: Path,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        template: TemplateName | Path = "site",
        users: dict[str, str] | None = None,
        acl_text: str | None = None,
        executable: str = "mosquitto",
        passwd_executable: str = "mosquitto_passwd",
        max_queued_messages: int = 10_000,
        dynsec_admin: tuple[str, str] | None = None,
        ctrl_executable: str = "mosquitto_ctrl",
        tls: BrokerTls | None = None,
        allow_plain_lan: bool = False,
    ) -> None:
        if not is_loopback(host):
            if not allow_plain_lan:
                raise ValueError(
                    f"a plain MQTT listener on {host} would serve the LAN in clear: bind it to a loopback address "
                    "and give the LAN the TLS listener (tls=BrokerTls(...)), or opt in with allow_plain_lan=True"
                )
            log.warning("plain MQTT listener on %s: an explicit opt-in (allow_plain_lan); the LAN sees it in clear",
                        host)  # fmt: skip
        self._workdir = Path(workdir).absolute()
        if any(c.isspace() for c in str(self._workdir)):
            raise ValueError(f"Mosquitto config paths cannot contain whitespace: {self._workdir}")
        self._auto_port = port is None
        self._port = port if port is not None else 0
        self._host = host
        self._dynsec = template == "site-dynsec"
        if isinstance(template, Path):
            self._template_path = template
            self._auth = True
        else:
            if template not in ("site", "site-dynsec", "cloud"):
                raise ValueError(f"unknown template {template!r}: expected 'site', 'site-dynsec', 'cloud' or a Path")
            self._template_path = TEMPLATE_DIR / f"{template}.conf.tmpl"
            self._auth = template == "site"
            if not self._auth and (users or acl_text is not None):
                raise ValueError(f"the {template!r} template takes no users and no ACL")
            if template == "cloud" and tls is not None:
                raise ValueError("the 'cloud' template (the twin's IoT Core stand-in) has no TLS listener")
        self._tls = tls
        self._auto_tls_port = tls is not None and tls.port is None
        self._tls_port = tls.port if tls is not None and tls.port is not None else 0
        if self._dynsec:
            if dynsec_admin is None:
                raise ValueError("the 'site-dynsec' template needs dynsec_admin=(username, password)")
            _check_credentials(dict([dynsec_admin]))
        elif dynsec_admin is not None:
            raise ValueError("dynsec_admin goes with template='site-dynsec' only")
        self._dynsec_admin = dynsec_admin
        self._ctrl_executable = ctrl_executable
        self._users: dict[str, str] = dict(users or {})
        _check_credentials(self._users)
        self._acl_text = acl_text if acl_text is not None else open_acl_text()
        self._executable = executable
        self._passwd_executable = passwd_executable
        self._max_queued_messages = max_queued_messages
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self._log_offset = 0

    # -- properties -------------------------------------------------------------------------------

    @property
    def workdir(self) -> Path:
        return self._workdir

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        """The listening port (picked by :meth:`start` when none was given)."""
        if self._port == 0:
            raise MosquittoError("no port yet: start() picks one")
        return self._port

    @property
    def url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"mqtt://{host}:{self.port}"

    @property
    def tls_port(self) -> int:
        """The TLS listener's port (picked by :meth:`start` when none was given)."""
        if self._tls is None:
            raise MosquittoError("this broker has no TLS listener")
        if self._tls_port == 0:
            raise MosquittoError("no TLS port yet: start() picks one")
        return self._tls_port

    @property
    def tls_host(self) -> str | None:
        return None if self._tls is None else self._tls.host

    @property
    def tls_dir(self) -> Path:
        """Where the broker's copies of the TLS files are (readable by the broker's user)."""
        return self._workdir / "tls"

    @property
    def config_path(self) -> Path:
        return self._workdir / "mosquitto.conf"

    @property
    def password_file(self) -> Path:
        return self._workdir / "passwd"

    @property
    def acl_file(self) -> Path:
        return self._workdir / "acl"

    @property
    def data_dir(self) -> Path:
        return self._workdir / "data"

    @property
    def dynsec_file(self) -> Path:
        """The dynamic-security plugin's JSON file (``site-dynsec`` template)."""
        return self.data_dir / "dynamic-security.json"

    @property
    def log_path(self) -> Path:
        return self._workdir / "mosquitto.log"

    @property
    def users(self) -> dict[str, str]:
        """A copy of the current username → password map."""
        return dict(self._users)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- configuration files ----------------------------------------------------------------------

    def set_users(self, users: Mapping[str, str]) -> None:
        """Replace the password file (takes effect at :meth:`start` or :meth:`reload`)."""
        new = dict(users)
        _check_credentials(new)
        self._require_auth("users")
        self._users = new
        if self._workdir.is_dir():
            self._write_password_file()

    def set_acl(self, acl_text: str) -> None:
        """Replace the ACL file (takes effect at :meth:`start` or :meth:`reload`)."""
        self._require_auth("an ACL")
        self._acl_text = acl_text
        if self._workdir.is_dir():
            self._write_acl_file()

    def _require_auth(self, what: str) -> None:
        if not self._auth:
            raise MosquittoError(f"this broker is anonymous: it takes no {what}")

    def _give_to_broker(self, path: Path, mode: int) -> None:
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

    def _write_password_file(self) -> None:
        """Write ``user:password`` lines to a temp file, hash them there, then swap the file in."""
        path = self.password_file
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text("".join(f"{user}:{password}\n" for user, password in self._users.items()))
        tmp.chmod(0o600)
        if self._users:
            # -U hashes every plain-text password of the file in place.
            result = subprocess.run(
                [_find_executable(self._passwd_executable), "-U", str(tmp)],
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
        self._give_to_broker(tmp, 0o600)
        os.replace(tmp, path)

    def _write_acl_file(self) -> None:
        path = self.acl_file
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(self._acl_text if self._acl_text.endswith("\n") else self._acl_text + "\n")
        self._give_to_broker(tmp, 0o600)
        os.replace(tmp, path)

    def _install_tls(self) -> None:
        """Copy the CA, certificate and key where the broker (as user `mosquitto`) can read them."""
        if self._tls is None:
            return
        self.tls_dir.mkdir(exist_ok=True)
        self.tls_dir.chmod(0o755)
        for source, name, mode in (
            (self._tls.ca_file, "ca.crt", 0o644),
            (self._tls.cert_file, "server.crt", 0o644),
            (self._tls.key_file, "server.key", 0o600),
        ):
            try:
                data = Path(source).read_bytes()
            except OSError as exc:
                raise MosquittoError(f"TLS file {source}: {exc.strerror or exc}") from None
            target = self.tls_dir / name
            tmp = target.with_name(f".{name}.tmp")
            tmp.unlink(missing_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            self._give_to_broker(tmp, mode)
            os.replace(tmp, target)

    def _init_dynsec(self) -> None:
        """Create the plugin's JSON file with the admin client, once (it then belongs to the broker)."""
        path = self.dynsec_file
        if path.exists():
            return
        assert self._dynsec_admin is not None
        user, password = self._dynsec_admin
        tmp = path.with_name(f".{path.name}.init")
        tmp.unlink(missing_ok=True)
        result = subprocess.run(
            [_find_executable(self._ctrl_executable), "dynsec", "init", str(tmp), user, password],
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
        self._give_to_broker(tmp, 0o600)
        os.replace(tmp, path)

    def _check_traversable(self) -> None:
        """Fail early if the `mosquitto` user could not reach the work directory."""
        ids = _broker_ids()
        if ids is None:
            return
        uid, gid = ids
        for directory in self._workdir.parents:
            st = directory.stat()
            if st.st_uid == uid:
                ok = bool(st.st_mode & 0o100)
            elif st.st_gid == gid:
                ok = bool(st.st_mode & 0o010)
            else:
                ok = bool(st.st_mode & 0o001)
            if not ok:
                raise MosquittoError(
                    f"{directory} is not traversable by user {_BROKER_USER!r}, which Mosquitto switches "
                    f"to when started as root: choose a work directory outside it (not pytest's tmp_path)"
                )

    def render_config(self) -> str:
        """The config text for the current settings (the port must be known)."""
        template = Template(self._template_path.read_text(encoding="utf-8"))
        tls = self._tls
        return template.substitute(
            host=self._host,
            port=str(self.port),
            tls="" if tls is not None else "#",
            tls_host=tls.host if tls is not None else "",
            tls_port=str(self._tls_port) if tls is not None else "",
            tls_ca_file=str(self.tls_dir / "ca.crt"),
            tls_cert_file=str(self.tls_dir / "server.crt"),
            tls_key_file=str(self.tls_dir / "server.key"),
            password_file=str(self.password_file),
            acl_file=str(self.acl_file),
            data_dir=str(self.data_dir),
            max_queued_messages=str(self._max_queued_messages),
            dynsec_plugin=find_dynsec_plugin() if self._dynsec else "",
            dynsec_file=str(self.dynsec_file),
        )

    def _prepare(self) -> None:
        self._workdir.mkdir(parents=True, exist_ok=True)
        self._workdir.chmod(0o755)
        self._check_traversable()
        if self._auth:
            self.data_dir.mkdir(exist_ok=True)
            self._give_to_broker(self.data_dir, 0o700)
            self._write_password_file()
            self._write_acl_file()
        if self._dynsec:
            self.data_dir.mkdir(exist_ok=True)
            self._give_to_broker(self.data_dir, 0o700)
            self._init_dynsec()
        self._install_tls()
        _write_atomic(self.config_path, self.render_config(), 0o644)

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> Self:
        """Write the config files, launch the broker and wait until it accepts connections."""
        if self.running:
            raise MosquittoError(f"broker already running (pid {self.pid})")
        attempts = 3 if self._auto_port or self._auto_tls_port else 1
        for attempt in range(attempts):
            # A restart keeps its port (clients reconnect to it); a new one only if it was taken.
            if self._auto_port and (self._port == 0 or attempt > 0):
                self._port = free_port(self._host)
            if self._tls is not None and self._auto_tls_port and (self._tls_port == 0 or attempt > 0):
                self._tls_port = free_port(self._tls.host)
            self._prepare()
            try:
                self._launch()
                return self
            except MosquittoError:
                port_taken = "Address already in use" in self._log_tail()
                self._cleanup_process()
                if not (port_taken and attempt + 1 < attempts):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _launch(self) -> None:
        executable = _find_executable(self._executable)
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - owned until stop()
        self._log_offset = self._log_file.tell()
        self._proc = subprocess.Popen(
            [executable, "-c", str(self.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            cwd=self._workdir,
            start_new_session=True,  # Ctrl-C goes to the supervisor, which stops brokers in order.
        )
        atexit.register(self.stop)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            code = self._proc.poll()
            if code is not None:
                raise MosquittoError(
                    f"mosquitto exited with code {code} while starting on {self._host}:{self._port} "
                    f"(config {self.config_path}); log:\n{self._log_tail()}"
                )
            if _RUNNING_MARK in self._log_since_start() and self._accepts_connections():
                return
            if time.monotonic() > deadline:
                raise MosquittoError(
                    f"mosquitto did not listen on {self._host}:{self._port} within {START_TIMEOUT:.0f} s "
                    f"(config {self.config_path}); log:\n{self._log_tail()}"
                )
            time.sleep(0.02)

    def _accepts_connections(self) -> bool:
        addresses = [(self._host, self._port)]
        if self._tls is not None:
            addresses.append(("127.0.0.1" if self._tls.host in ("0.0.0.0", "") else self._tls.host, self._tls_port))
        try:
            for address in addresses:
                with socket.create_connection(address, timeout=0.5):
                    pass
        except OSError:
            return False
        return True

    def _log_since_start(self) -> str:
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(self._log_offset)
                return fh.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def _log_tail(self, lines: int = 30) -> str:
        return "\n".join(self._log_since_start().splitlines()[-lines:])

    def reload(self, *, wait: bool = True) -> None:
        """Send SIGHUP: the broker re-reads its password and ACL files (see :meth:`set_users`) and its TLS
        certificate and key (copied again from :class:`BrokerTls`' files first: a renewed certificate)."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            raise MosquittoError("broker is not running")
        self._install_tls()
        before = self._log_since_start().count(_RELOAD_MARK)
        proc.send_signal(signal.SIGHUP)
        if not wait:
            return
        deadline = time.monotonic() + RELOAD_TIMEOUT
        while self._log_since_start().count(_RELOAD_MARK) <= before:
            if proc.poll() is not None:
                raise MosquittoError(f"mosquitto exited during reload; log:\n{self._log_tail()}")
            if time.monotonic() > deadline:
                raise MosquittoError(f"mosquitto did not reload within {RELOAD_TIMEOUT:.0f} s")
            time.sleep(0.01)
        # The files are read right after the log line, in the same loop iteration; a short pause lets
        # that finish before the caller's next connection is accepted.
        time.sleep(0.05)

    def stop(self) -> None:
        """Terminate the broker (SIGTERM, then SIGKILL after 5 s). Safe to call more than once."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT)
        self._cleanup_process()

    def _cleanup_process(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=STOP_TIMEOUT)
        self._proc = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        atexit.unregister(self.stop)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.running else "stopped"
        port = self._port or "?"
        tls = f" tls {self._tls.host}:{self._tls_port or '?'}" if self._tls is not None else ""
        return f"<MosquittoProcess {self._template_path.stem} {self._host}:{port}{tls} {state}>"
