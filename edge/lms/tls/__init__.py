"""TLS on the school LAN: the site CA, the server certificates it signs and keeps current, and the HTTP(S)
listener that serves them."""

from __future__ import annotations

from edge.lms.tls.certificate_watch import CertificateExpiry, CertificateWatch
from edge.lms.tls.http_listener import HttpListener, ListenerError, NamedCertificate, plain_variant
from edge.lms.tls.live_tls import LiveTls
from edge.lms.tls.site_ca import SiteCa, SiteCaError
from edge.lms.tls.site_tls import SiteTls, TlsFiles, site_names

__all__ = [
    "CertificateExpiry",
    "CertificateWatch",
    "HttpListener",
    "ListenerError",
    "LiveTls",
    "NamedCertificate",
    "SiteCa",
    "SiteCaError",
    "SiteTls",
    "TlsFiles",
    "plain_variant",
    "site_names",
]
