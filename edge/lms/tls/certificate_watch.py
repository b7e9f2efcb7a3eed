"""The site's certificates while the LMS runs: renewal, rotation on demand, and expiry warnings.

* Every ``site_tls.check_interval_s`` :meth:`CertificateWatch.check` runs :meth:`SiteTls.ensure` (renewal
  ``renew_before_days`` before the end) and hands a new LMS or broker certificate to ``on_renewed`` (the LMS
  loads its own into the running HTTPS server; the broker's start script installs the broker's and sends
  SIGHUP). A certificate rotated by another process (``python -m edge.lms ... tls rotate`` beside the running
  LMS) is noticed by its new serial number at the same check.
* :meth:`CertificateWatch.rotate` (``POST /api/site-tls/rotate``) issues new LMS and broker certificates (new
  keys, same site CA) at once and hands them over the same way: connections already open keep their session,
  new ones get the new certificate, which agents verify against the site CA they pinned — no agent is dropped.
* :meth:`CertificateWatch.status` lists every certificate the site depends on — the site CA, the LMS's and the
  broker's, and the site's cloud certificate (``[cloud.tls] cert_file``) — with its end and whether it is
  within ``site_tls.warn_before_days`` of it. Each such certificate is logged and recorded as an event of kind
  ``tls.expiring`` (severity warning, agent id :data:`LMS_EVENT_SOURCE`) at most once a day; :meth:`expiring`
  names them in every site heartbeat (``certificates_expiring``), which is how the cloud learns of them (it keeps
  only events of the site's agents).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cryptography import x509

from edge.lms.tls.site_ca import SiteCaError
from edge.lms.tls.site_tls import SiteTls, TlsFiles, changed
from shared.messages import Event, Severity
from shared.periodic import Periodic

log = logging.getLogger(__name__)

#: The agent id of the LMS's own events (the ``events`` table and the cloud's ``site_events`` name an agent).
LMS_EVENT_SOURCE = "lms"
EXPIRING = "tls.expiring"
DAY_S = 86400.0


@dataclass(frozen=True, slots=True)
class CertificateExpiry:
    """One certificate the site depends on and how long it has left."""

    name: str  # site_ca, lms, broker, cloud
    file: str
    not_after: float | None  # None: unreadable (``error`` says why)
    days_left: float | None
    warning: bool
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_expiry(name: str, path: Path, *, now: float, warn_before_days: int) -> CertificateExpiry:
    """The end of the (first) certificate in ``path``; an unreadable file is a warning too."""
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as exc:
        return CertificateExpiry(name, str(path), None, None, True, f"unreadable: {exc}")
    not_after = cert.not_valid_after_utc.timestamp()
    days_left = round((not_after - now) / DAY_S, 2)
    return CertificateExpiry(name, str(path), not_after, days_left, days_left <= warn_before_days)


class CertificateWatch:
    """Renewal, rotation and expiry warnings of the site's certificates (see the module docstring)."""

    def __init__(
        self,
        site_tls: SiteTls,
        *,
        on_renewed: Callable[[TlsFiles], None],
        cloud_cert: Path | None = None,
        warn_before_days: int = 30,
        check_interval_s: float = 43200.0,
        on_event: Callable[[str, Event], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._tls = site_tls
        self._on_renewed = on_renewed
        self._cloud_cert = cloud_cert
        self._warn_before_days = warn_before_days
        self._interval_s = check_interval_s
        self._on_event = on_event
        self._clock = clock
        self._warned: dict[str, int] = {}  # certificate -> the day (epoch // 86400) it was last warned about
        self._lock = threading.Lock()
        self._periodic: Periodic | None = None

    def start(self) -> CertificateWatch:
        if self._tls.files is None:
            self._tls.ensure()  # what is there now is what is served: only later changes are handed over
        self.warn()  # at start too: an LMS restarted every night would otherwise never warn
        self._periodic = Periodic("site-tls-watch", self.check, self._interval_s, run_at_start=False)
        self._periodic.start()
        return self

    def stop(self) -> None:
        if self._periodic is not None:
            self._periodic.stop()
            self._periodic = None

    def check(self) -> None:
        """One pass: renew what needs it, hand over what changed, warn about what is about to lapse."""
        with self._lock:
            before = self._tls.files
            try:
                files = self._tls.ensure()
            except SiteCaError as exc:
                log.error("site TLS: cannot renew the site's certificates: %s", exc)
            else:
                if changed(before, files):
                    self._on_renewed(files)
        self.warn()

    def rotate(self) -> TlsFiles:
        """New LMS and broker certificates now, handed over at once. Raises :class:`SiteCaError`."""
        with self._lock:
            files = self._tls.rotate()
            self._on_renewed(files)
        log.warning("site TLS: LMS and broker certificates rotated (serials %x, %x)", files.lms.serial,
                    files.broker.serial)  # fmt: skip
        return files

    def status(self) -> list[CertificateExpiry]:
        files = self._tls.files
        now = self._clock()
        out = []
        if files is not None:
            for name, path in (("site_ca", files.ca_file), ("lms", files.lms.cert_file),
                               ("broker", files.broker.cert_file)):  # fmt: skip
                out.append(read_expiry(name, path, now=now, warn_before_days=self._warn_before_days))
        if self._cloud_cert is not None:
            out.append(read_expiry("cloud", self._cloud_cert, now=now, warn_before_days=self._warn_before_days))
        return out

    def expiring(self) -> list[str]:
        """The names of the certificates within the warning period now (what site heartbeats carry)."""
        return [c.name for c in self.status() if c.warning]

    def warn(self) -> list[CertificateExpiry]:
        """Log and record (once a day each) the certificates within the warning period; returns them."""
        expiring = [c for c in self.status() if c.warning]
        today = int(self._clock() // DAY_S)
        for cert in expiring:
            if self._warned.get(cert.name) == today:
                continue
            self._warned[cert.name] = today
            if cert.error is not None:
                message = f"the {cert.name} certificate {cert.file} is {cert.error}"
            else:
                message = (f"the {cert.name} certificate {cert.file} ends in {cert.days_left:g} days "
                           f"({time.strftime('%Y-%m-%d', time.gmtime(cert.not_after or 0))}): rotate it "
                           "(docs/operations.md#site-operations-rotate-certificates-and-credentials)")  # fmt: skip
            log.warning("site TLS: %s", message)
            if self._on_event is not None:
                event = Event(timestamp=self._clock(), kind=EXPIRING, severity=Severity.WARNING, message=message,
                              data=cert.as_dict())  # fmt: skip
                self._on_event(LMS_EVENT_SOURCE, event)
        return expiring
