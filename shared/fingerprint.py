"""The site CA's fingerprint, the value an agent pins at enrolment: ``sha256:<64 hex digits>``.

It is the SHA-256 of the CA certificate's DER encoding — what ``openssl x509 -noout -fingerprint -sha256 -in
ca.crt`` prints (there in upper case with colons; both spellings are accepted). Unlike kubeadm's
``--discovery-token-ca-cert-hash`` (a hash of the public key only) it covers the whole certificate, so the
agent trusts exactly the bytes it checked. Standard library only: the agent has no ``cryptography``.
"""

from __future__ import annotations

import hashlib
import re
import ssl

PREFIX = "sha256:"
_PEM_RE = re.compile(r"-----BEGIN CERTIFICATE-----\s+[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----")
_HEX_RE = re.compile(r"^[0-9a-f]{64}$")
#: ``sha256:`` then 64 hex digits, optionally in pairs separated by colons (as openssl prints them).
PATTERN = r"^(?i:sha256):(?:[0-9A-Fa-f]{64}|(?:[0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2})$"


def normalise(text: str) -> str:
    """``sha256:<lower-case hex>`` from either spelling; raises ``ValueError`` with a readable message."""
    value = text.strip()
    if not value.lower().startswith(PREFIX):
        raise ValueError(f"a CA hash starts with {PREFIX!r} (e.g. sha256:3f5a...), not {value[:20]!r}")
    digits = value[len(PREFIX) :].replace(":", "").lower()
    if not _HEX_RE.match(digits):
        raise ValueError("a CA hash is sha256: and 64 hexadecimal digits")
    return PREFIX + digits


def first_certificate(pem: str) -> bytes:
    """The DER bytes of the first PEM certificate in ``pem``; ``ValueError`` if there is none."""
    match = _PEM_RE.search(pem)
    if match is None:
        raise ValueError("no PEM certificate found")
    try:
        return ssl.PEM_cert_to_DER_cert(match.group(0))
    except ValueError as exc:
        raise ValueError(f"not a PEM certificate: {exc}") from None


def of_der(der: bytes) -> str:
    return PREFIX + hashlib.sha256(der).hexdigest()


def of_pem(pem: str) -> str:
    """The fingerprint of the first certificate in ``pem``."""
    return of_der(first_certificate(pem))


def to_pem(der: bytes) -> str:
    return ssl.DER_cert_to_PEM_cert(der)
