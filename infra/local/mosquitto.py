"""Run a Mosquitto broker as a child process with a config rendered from ``infra/mosquitto/*.conf.tmpl``.

Used by the local twin's supervisor (the site broker and the IoT Core stand-in) and by the test fixtures.

Things this module takes care of (see docs/field-notes.md#mosquitto):

* Started as root, Mosquitto drops to the ``mosquitto`` user *before* it reads its files: they are written so
  that it can (:mod:`infra.local.broker_files`); every parent directory must be traversable by that user too
  (pytest's ``tmp_path`` lives under a 0700 directory: use another temp dir).
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
* ``template="iot-core"``: the local twin's IoT Core stand-in. Its one listener (``port``) is MQTT over TLS
  (``tls=BrokerTls(...)``: the twin's stand-in for Amazon's root CA and the broker's certificate; the TLS
  listener's own port and host are not used) requiring a client certificate, whose CN is the client's identity.
  Access is the dynamic-security plugin's, seeded once from ``dynsec_seed`` (the plugin's JSON document, written
  into the data directory when it has none; the broker rewrites it on every change).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from string import Template
from typing import IO, Any, Literal, Self

from infra.local.broker_files import (
    BrokerTls,
    BrokerWorkdir,
    MosquittoError,
    check_credentials,
    check_traversable,
    find_dynsec_plugin,
    find_executable,
    give_to_broker,
    init_dynsec,
    install_tls,
    open_acl_text,
    write_acl_file,
    write_dynsec,
    write_password_file,
)
from infra.local.ports import free_port
from shared.files import write_atomic
from shared.mqtt.settings import is_loopback

__all__ = ["TEMPLATE_DIR", "BrokerTls", "MosquittoError", "MosquittoProcess"]

TEMPLATE_DIR = Path(__file__).resolve().parents[1] / "mosquitto"
"""Where ``site.conf.tmpl`` and ``cloud.conf.tmpl`` live."""

TemplateName = Literal["site", "site-dynsec", "cloud", "iot-core"]

START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
RELOAD_TIMEOUT = 5.0
_RUNNING_MARK = " running"  # "mosquitto version 2.0.11 running"
_RELOAD_MARK = "Reloading config."


log = logging.getLogger(__name__)


class MosquittoProcess(BrokerWorkdir):
    """One Mosquitto broker process with its own config, password file, ACL file and log.

    ``template`` is ``"site"`` (authenticated, ACL, persistence), ``"site-dynsec"`` (authenticated by the
    dynamic-security plugin; give ``dynsec_admin=(user, password)``, no users and no ACL) or ``"cloud"`` (the
    anonymous plain broker of the LMS's integration tests), ``"iot-core"`` (the twin's IoT Core stand-in: mutual
    TLS, dynamic security seeded from ``dynsec_seed``), or a path to another ``string.Template`` config. ``users``
    maps usernames to plain-text passwords (hashed with ``mosquitto_passwd``); ``acl_text`` is a Mosquitto ACL
    file (default: every authenticated client may use every topic). With ``port=None`` a free port is picked (and
    re-picked if another process grabs it before the broker binds).
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
        dynsec_seed: Mapping[str, Any] | None = None,
    ) -> None:
        if not is_loopback(host):
            if not allow_plain_lan:
                raise ValueError(
                    f"a plain MQTT listener on {host} would serve the LAN in clear: bind it to a loopback address "
                    "and give the LAN the TLS listener (tls=BrokerTls(...)), or opt in with allow_plain_lan=True"
                )
            log.warning("plain MQTT listener on %s: an explicit opt-in (allow_plain_lan); the LAN sees it in clear",
                        host)  # fmt: skip
        super().__init__(workdir)
        self._auto_port = port is None
        self._port = port if port is not None else 0
        self._host = host
        self._dynsec = template in ("site-dynsec", "iot-core")
        self._tls_only = template == "iot-core"
        if isinstance(template, Path):
            self._template_path = template
            self._auth = True
        else:
            if template not in ("site", "site-dynsec", "cloud", "iot-core"):
                raise ValueError(
                    f"unknown template {template!r}: expected 'site', 'site-dynsec', 'cloud', 'iot-core' or a Path"
                )
            self._template_path = TEMPLATE_DIR / f"{template}.conf.tmpl"
            self._auth = template == "site"
            if not self._auth and (users or acl_text is not None):
                raise ValueError(f"the {template!r} template takes no users and no ACL")
            if template == "cloud" and tls is not None:
                raise ValueError("the 'cloud' template (a plain test broker) has no TLS listener")
        if self._tls_only and (tls is None or dynsec_seed is None):
            raise ValueError("the 'iot-core' template needs tls=BrokerTls(...) and dynsec_seed")
        if dynsec_seed is not None and not self._tls_only:
            raise ValueError("dynsec_seed goes with template='iot-core' only")
        self._dynsec_seed = dict(dynsec_seed) if dynsec_seed is not None else None
        self._tls = tls
        self._auto_tls_port = tls is not None and tls.port is None and not self._tls_only
        self._tls_port = tls.port if tls is not None and tls.port is not None and not self._tls_only else 0
        if self._tls_only:
            if dynsec_admin is not None:
                raise ValueError("the 'iot-core' template takes no dynsec_admin (identities are certificates)")
        elif self._dynsec:
            if dynsec_admin is None:
                raise ValueError("the 'site-dynsec' template needs dynsec_admin=(username, password)")
            check_credentials(dict([dynsec_admin]))
        elif dynsec_admin is not None:
            raise ValueError("dynsec_admin goes with template='site-dynsec' only")
        self._dynsec_admin = dynsec_admin
        self._ctrl_executable = ctrl_executable
        self._users: dict[str, str] = dict(users or {})
        check_credentials(self._users)
        self._acl_text = acl_text if acl_text is not None else open_acl_text()
        self._executable = executable
        self._passwd_executable = passwd_executable
        self._max_queued_messages = max_queued_messages
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    # -- properties -------------------------------------------------------------------------------

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
        if self._tls_only:
            return self.port
        if self._tls_port == 0:
            raise MosquittoError("no TLS port yet: start() picks one")
        return self._tls_port

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
        check_credentials(new)
        self._require_auth("users")
        self._users = new
        if self.workdir.is_dir():
            self._write_password_file()

    def set_acl(self, acl_text: str) -> None:
        """Replace the ACL file (takes effect at :meth:`start` or :meth:`reload`)."""
        self._require_auth("an ACL")
        self._acl_text = acl_text
        if self.workdir.is_dir():
            self._write_acl_file()

    def _require_auth(self, what: str) -> None:
        if not self._auth:
            raise MosquittoError(f"this broker is anonymous: it takes no {what}")

    def _write_password_file(self) -> None:
        write_password_file(self.password_file, self._users, self._passwd_executable)

    def _write_acl_file(self) -> None:
        write_acl_file(self.acl_file, self._acl_text)

    def _install_tls(self) -> None:
        """Copy the CA, certificate and key where the broker (as user `mosquitto`) can read them."""
        if self._tls is not None:
            install_tls(self.tls_dir, self._tls)

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
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.workdir.chmod(0o755)
        check_traversable(self.workdir)
        if self._auth:
            self.data_dir.mkdir(exist_ok=True)
            give_to_broker(self.data_dir, 0o700)
            self._write_password_file()
            self._write_acl_file()
        if self._dynsec:
            self.data_dir.mkdir(exist_ok=True)
            give_to_broker(self.data_dir, 0o700)
            if self.dynsec_file.exists():  # made once; then it belongs to the broker
                pass
            elif self._dynsec_seed is not None:
                write_dynsec(self.dynsec_file, self._dynsec_seed)
            else:
                assert self._dynsec_admin is not None
                init_dynsec(self.dynsec_file, self._dynsec_admin, self._ctrl_executable)
        self._install_tls()
        write_atomic(self.config_path, self.render_config(), mode=0o644)

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
                port_taken = "Address already in use" in self.log_tail()
                self._cleanup_process()
                if not (port_taken and attempt + 1 < attempts):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _launch(self) -> None:
        executable = find_executable(self._executable)
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - owned until stop()
        self.log_offset = self._log_file.tell()
        self._proc = subprocess.Popen(
            [executable, "-c", str(self.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            start_new_session=True,  # Ctrl-C goes to the supervisor, which stops brokers in order.
        )
        atexit.register(self.stop)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            code = self._proc.poll()
            if code is not None:
                raise MosquittoError(
                    f"mosquitto exited with code {code} while starting on {self._host}:{self._port} "
                    f"(config {self.config_path}); log:\n{self.log_tail()}"
                )
            if _RUNNING_MARK in self.log_since_start() and self._accepts_connections():
                return
            if time.monotonic() > deadline:
                raise MosquittoError(
                    f"mosquitto did not listen on {self._host}:{self._port} within {START_TIMEOUT:.0f} s "
                    f"(config {self.config_path}); log:\n{self.log_tail()}"
                )
            time.sleep(0.02)

    def _accepts_connections(self) -> bool:
        addresses = [(self._host, self._port)]
        if self._tls is not None and not self._tls_only:
            addresses.append(("127.0.0.1" if self._tls.host in ("0.0.0.0", "") else self._tls.host, self._tls_port))
        try:
            for address in addresses:
                with socket.create_connection(address, timeout=0.5):
                    pass
        except OSError:
            return False
        return True

    def reload(self, *, wait: bool = True) -> None:
        """Send SIGHUP: the broker re-reads its password and ACL files (see :meth:`set_users`) and its TLS
        certificate and key (copied again from :class:`BrokerTls`' files first: a renewed certificate)."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            raise MosquittoError("broker is not running")
        self._install_tls()
        before = self.log_since_start().count(_RELOAD_MARK)
        proc.send_signal(signal.SIGHUP)
        if not wait:
            return
        deadline = time.monotonic() + RELOAD_TIMEOUT
        while self.log_since_start().count(_RELOAD_MARK) <= before:
            if proc.poll() is not None:
                raise MosquittoError(f"mosquitto exited during reload; log:\n{self.log_tail()}")
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

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.running else "stopped"
        port = self._port or "?"
        tls = f" tls {self._tls.host}:{self._tls_port or '?'}" if self._tls is not None and not self._tls_only else ""
        return f"<MosquittoProcess {self._template_path.stem} {self._host}:{port}{tls} {state}>"
