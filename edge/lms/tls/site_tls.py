"""TLS on the school LAN: the site CA (:mod:`edge.lms.tls.site_ca`) and the two server certificates it signs.

* ``<site_tls.dir>``: ``ca.key`` (0600), ``ca.crt``, ``lms.crt`` + ``lms.key`` (0600) for the LMS's HTTPS;
* ``<site_tls.broker_dir>``: ``ca.crt``, ``broker.crt`` + ``broker.key`` (``broker_key_mode``, 0640 by
  default) for Mosquitto's TLS listener (``infra/mosquitto/*.tmpl``).

:meth:`SiteTls.ensure` runs at every start (``python -m edge.lms ... tls`` runs it alone, before the broker's
first start) and every ``check_interval_s`` while the LMS runs (:mod:`edge.lms.tls.certificate_watch`, which
also rotates on demand and warns before any certificate lapses): it makes the CA on first use and (re)issues a
server certificate when it is missing, made for other names, or within ``renew_before_days`` of its end. A
renewed LMS certificate is loaded into the running HTTPS server; a renewed broker certificate is picked up by
the broker at its next reload (SIGHUP; the container's start script does it, ``infra/lms/mosquitto-start.sh``).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edge.lms.config import LmsConfig
from edge.lms.tls.site_ca import ServerCert, SiteCa, SiteCaError, write_file

log = logging.getLogger(__name__)

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARDS = ("0.0.0.0", "::", "")
LMS_CERT, LMS_KEY = "lms.crt", "lms.key"
BROKER_CA, BROKER_CERT, BROKER_KEY = "ca.crt", "broker.crt", "broker.key"

__all__ = ["SiteCaError", "SiteTls", "TlsFiles", "site_names"]


def _host_name() -> list[str]:
    name = socket.gethostname().strip().lower()
    return [name] if name and all(part.isalnum() or "-" in part for part in name.split(".")) else []


def site_names(cfg: LmsConfig) -> list[str]:
    """The names the LMS's and the broker's certificates carry (see ``SiteTlsSettings``)."""
    names = [*LOOPBACK_NAMES, *_host_name(), *cfg.site_tls.hosts, cfg.site_broker.host]
    if cfg.site_broker.dynsec is not None and cfg.site_broker.dynsec.advertise_host:
        names.append(cfg.site_broker.dynsec.advertise_host)
    if cfg.http_host not in WILDCARDS:
        names.append(cfg.http_host)
    return names


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """Where everything is, and the fingerprint agents pin."""

    ca_file: Path
    ca_pem: str
    fingerprint: str
    lms: ServerCert
    broker: ServerCert
    broker_ca_file: Path


def changed(before: TlsFiles | None, after: TlsFiles) -> bool:
    """Whether ``after`` holds a certificate that ``before`` (what is being served) does not."""
    if after.lms.renewed or after.broker.renewed or before is None:
        return True
    return (before.lms.serial, before.broker.serial) != (after.lms.serial, after.broker.serial)


class SiteTls:
    """The site CA and the LMS's and broker's certificates, kept current (see the module docstring)."""

    def __init__(self, cfg: LmsConfig, *, clock: Callable[[], float] = time.time) -> None:
        self._cfg = cfg
        self._clock = clock
        settings = cfg.site_tls
        assert settings.dir is not None and settings.broker_dir is not None  # filled by config loading
        self.dir: Path = settings.dir
        self.broker_dir: Path = settings.broker_dir
        self.files: TlsFiles | None = None
        self._lock = threading.Lock()  # the periodic check and an operator's rotation, one at a time

    def ensure(self, *, force: str | None = None) -> TlsFiles:
        """Make the CA on first use; (re)issue what needs it (everything, with ``force``: the reason of an
        operator's rotation). Raises :class:`SiteCaError`."""
        with self._lock:
            return self._ensure(force)

    def rotate(self, reason: str = "rotated on demand") -> TlsFiles:
        """New LMS and broker certificates now (same CA, new keys): :meth:`ensure` with ``force``."""
        return self.ensure(force=reason)

    def _ensure(self, force: str | None) -> TlsFiles:
        cfg = self._cfg
        settings = cfg.site_tls
        ca = SiteCa.open(self.dir, name=f"ClassTop site CA {cfg.tenant}/{cfg.site_id}", clock=self._clock)
        names = site_names(cfg)
        days, renew_before_s = settings.cert_days, settings.renew_before_days * 86400

        def server(cert: Path, key: Path, name: str, key_mode: int) -> ServerCert:
            return ca.ensure_server(
                cert, key, common_name=f"{name}.{cfg.site_id}", names=names, days=days, renew_before_s=renew_before_s,
                key_mode=key_mode, force=force,
            )  # fmt: skip

        lms = server(self.dir / LMS_CERT, self.dir / LMS_KEY, "lms", 0o600)
        broker = server(self.broker_dir / BROKER_CERT, self.broker_dir / BROKER_KEY, "broker", settings.broker_key_mode)
        broker_ca = self.broker_dir / BROKER_CA
        try:
            if not broker_ca.is_file() or broker_ca.read_text(encoding="ascii") != ca.cert_pem:
                write_file(broker_ca, ca.cert_pem.encode("ascii"), 0o644)
        except (OSError, UnicodeDecodeError) as exc:
            raise SiteCaError(f"cannot write {broker_ca}: {exc}") from None
        self.files = TlsFiles(ca.cert_file, ca.cert_pem, ca.fingerprint, lms, broker, broker_ca)
        return self.files
