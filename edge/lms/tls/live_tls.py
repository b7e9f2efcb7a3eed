"""The site's TLS while the LMS runs: a renewed or rotated certificate served from the next handshake, a next site
CA trusted by the LMS's own broker connections, and the site CA shown to agents that enrol.

:class:`~edge.lms.process.Lms` makes one at its ``start_site_tls`` step and hooks the parts started later onto it
(the HTTPS listener, the site broker client, the broker credentials client, the enrolment API's CA info), so the
renewal watch and the site CA rotation (:mod:`edge.lms.tls.certificate_watch`, :mod:`edge.lms.tls.ca_rotation`)
reach every part that holds a certificate or trusts a CA.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from edge.lms.commands import Router
from edge.lms.config import LmsConfig
from edge.lms.tls.ca_rotation import CaRotation
from edge.lms.tls.certificate_watch import CertificateWatch
from edge.lms.tls.http_listener import HttpListener, NamedCertificate
from edge.lms.tls.site_tls import SiteTls, TlsFiles
from shared.messages import Event

log = logging.getLogger(__name__)


class LiveTls:
    def __init__(self, site_tls: SiteTls, *, http_tls: bool) -> None:
        self.site_tls = site_tls
        self.http_tls = http_tls
        #: the HTTPS listener, once started (serves a renewed certificate from its next handshake)
        self.http_listener: HttpListener | None = None
        #: who else trusts a next site CA from now on (the LMS's broker connections)
        self.trust_hooks: list[Callable[[Path], None]] = []
        #: who learns of a new site CA (the enrolment API's CA info)
        self.switch_hooks: list[Callable[[TlsFiles], None]] = []

    @property
    def files(self) -> TlsFiles:
        assert self.site_tls.files is not None, "start_site_tls made them"
        return self.site_tls.files

    def http_certificate(self) -> tuple[Path | None, Path | None]:
        """HTTPS with the site CA's certificate; (None, None) = plain (loopback only)."""
        if not self.http_tls:
            return None, None
        return self.files.lms.cert_file, self.files.lms.key_file

    @staticmethod
    def named_certificate(cfg: LmsConfig) -> NamedCertificate | None:
        """The operator's ``tls_cert_file`` (a certificate ClassTop clients trust), served for its DNS names."""
        if cfg.tls_cert_file is None or cfg.tls_key_file is None:
            return None
        named = NamedCertificate(cfg.tls_cert_file, cfg.tls_key_file)
        log.info("HTTPS: %s for %s, the site CA's certificate for every other name",
                 cfg.tls_cert_file, ", ".join(named.names) or "(no DNS name)")  # fmt: skip
        return named

    def serve_renewed(self, files: TlsFiles) -> None:
        """A new LMS certificate is served from the next handshake on; the broker's after its reload."""
        if self.http_listener is not None and self.http_tls:
            self.http_listener.reload_certificate(files.lms.cert_file, files.lms.key_file)
        log.warning(
            "the site broker's certificate is new in %s: the broker serves it after its next reload "
            "(SIGHUP; the LMS container's broker does it by itself)", files.broker.cert_file.parent,
        )  # fmt: skip

    def site_ca_switched(self, files: TlsFiles) -> None:
        """A new site CA: its certificates served, and shown to agents that enrol from now on."""
        self.serve_renewed(files)
        for hook in self.switch_hooks:
            hook(files)

    def trust_site_ca(self, ca_file: Path) -> None:
        """The LMS's own broker connections also trust ``ca_file`` (the next site CA) from their next handshake."""
        for hook in self.trust_hooks:
            hook(ca_file)

    def watch(self, cfg: LmsConfig, on_event: Callable[[str, Event], None] | None) -> CertificateWatch:
        """Renewal, rotation on demand and expiry warnings of every site certificate (started by the caller)."""
        cloud_tls = cfg.cloud.tls if cfg.cloud is not None else None
        return CertificateWatch(
            self.site_tls, on_renewed=self.serve_renewed, warn_before_days=cfg.site_tls.warn_before_days,
            check_interval_s=cfg.site_tls.check_interval_s, on_event=on_event,
            cloud_cert=cloud_tls.cert_file if cloud_tls is not None else None,
        )  # fmt: skip

    def ca_rotation(self, router: Router, agents: Callable[[], list[str]]) -> CaRotation:
        """The site CA's rotation; when the LMS restarted in the middle of one, the next CA is trusted again."""
        rotation = CaRotation(self.site_tls, router, agents, on_switched=self.site_ca_switched,
                              trust=self.trust_site_ca)  # fmt: skip
        for ca_file in rotation.extra_trust_files():
            self.trust_site_ca(ca_file)
        return rotation
