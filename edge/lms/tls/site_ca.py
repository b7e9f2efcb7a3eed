"""The site CA: an EC P-256 certificate authority made once, at the LMS's first start, in its state directory.

* ``ca.key`` (mode 0600) and ``ca.crt`` in the CA's directory. The key never leaves the LMS; agents pin the
  certificate's SHA-256 fingerprint (:mod:`shared.fingerprint`) at enrolment.
* :meth:`SiteCa.ensure_server` keeps one server certificate (EC P-256, ``serverAuth``, the site's names as
  subjectAltNames) signed by it: issued when missing, unreadable, not signed by this CA, made for other names,
  or within ``renew_before_s`` of its end. The key is written before the certificate, each atomically, so a
  crash leaves the old pair or a new key beside the old certificate — which the next check replaces.
* The CA itself is valid for :data:`CA_DAYS`; it is never replaced automatically (agents pin it): a site admin
  rotates it while agents stay enrolled (:mod:`edge.lms.tls.ca_rotation`, docs/operations.md).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from shared import fingerprint

log = logging.getLogger(__name__)

CA_CERT, CA_KEY = "ca.crt", "ca.key"
CA_DAYS = 3650
#: Certificates start this long before "now": a peer whose clock is a little behind still accepts them.
BACKDATE_S = 3600


class SiteCaError(Exception):
    """The CA's files cannot be read, written or used (the message says which and why)."""


def _utc(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC)


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _names_of(cert: x509.Certificate) -> set[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {str(n) for n in san.get_values_for_type(x509.IPAddress)} | set(san.get_values_for_type(x509.DNSName))


def canonical_names(names: Iterable[str]) -> list[str]:
    """Sorted, de-duplicated, IP addresses in their canonical spelling (``::1``, not ``0::1``)."""
    out = set()
    for name in names:
        try:
            out.add(str(ipaddress.ip_address(name)))
        except ValueError:
            out.add(name.lower().rstrip("."))
    return sorted(out)


def write_file(path: Path, data: bytes, mode: int) -> None:
    """Atomically, with ``mode`` from the start (a key is never readable by others, not even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)  # the umask may have narrowed it
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    """A CA signs certificates; a server (ECDSA) signs its handshakes."""
    return x509.KeyUsage(
        digital_signature=not ca, content_commitment=False, key_encipherment=False, data_encipherment=False,
        key_agreement=False, key_cert_sign=ca, crl_sign=ca, encipher_only=False, decipher_only=False,
    )


@dataclass(frozen=True, slots=True)
class ServerCert:
    """What is on disk for one server after :meth:`SiteCa.ensure_server`."""

    cert_file: Path
    key_file: Path
    names: tuple[str, ...]
    not_after: float
    renewed: str | None  # why it was (re)issued now; None if the existing one was kept
    serial: int = 0  # the certificate's serial number (a new one on every issue)


class SiteCa:
    """The CA's certificate and key (see the module docstring). Build it with :meth:`open`."""

    def __init__(
        self, directory: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey, *, created: bool,
        clock: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        self.directory = directory
        self.cert = cert
        self._key = key
        self.created = created
        self._clock = clock
        self.cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
        self.fingerprint = fingerprint.of_der(cert.public_bytes(serialization.Encoding.DER))

    @property
    def cert_file(self) -> Path:
        return self.directory / CA_CERT

    @property
    def not_after(self) -> float:
        return self.cert.not_valid_after_utc.timestamp()

    @classmethod
    def open(cls, directory: Path, *, name: str, clock: Callable[[], float] = time.time) -> SiteCa:
        """The CA in ``directory``; made there (``name`` as its common name) if it has none yet."""
        cert_file, key_file = directory / CA_CERT, directory / CA_KEY
        if cert_file.exists() or key_file.exists():
            return cls._load(directory, clock)
        try:
            directory.mkdir(parents=True, exist_ok=True)
            directory.chmod(0o700)
        except OSError as exc:
            raise SiteCaError(f"cannot create the site CA directory {directory}: {exc.strerror or exc}") from None
        key = _new_key()
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name[:64])])
        now = clock()
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_utc(now - BACKDATE_S))
            .not_valid_after(_utc(now + CA_DAYS * 86400))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(ca=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        try:
            write_file(key_file, _key_pem(key), 0o600)  # the key first: a certificate alone is useless
            write_file(cert_file, cert.public_bytes(serialization.Encoding.PEM), 0o644)
        except OSError as exc:
            raise SiteCaError(f"cannot write the site CA in {directory}: {exc.strerror or exc}") from None
        ca = cls(directory, cert, key, created=True, clock=clock)
        log.info("site CA created in %s: %s", directory, ca.fingerprint)
        return ca

    @classmethod
    def _load(cls, directory: Path, clock: Callable[[], float]) -> SiteCa:
        cert_file, key_file = directory / CA_CERT, directory / CA_KEY
        try:
            cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
            key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        except OSError as exc:
            raise SiteCaError(
                f"the site CA in {directory} is incomplete or unreadable ({exc.strerror or exc}): restore it from "
                "a backup, or move the directory away to make a new CA (every agent must then enrol again)"
            ) from None
        except ValueError as exc:
            raise SiteCaError(f"the site CA in {directory} is not a PEM certificate and key: {exc}") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
            raise SiteCaError(f"the site CA's key in {directory} does not belong to its certificate")
        mode = key_file.stat().st_mode & 0o077
        if mode:
            log.warning("site CA key %s is readable by others (mode %o): making it 0600", key_file, mode)
            key_file.chmod(0o600)
        ca = cls(directory, cert, key, created=False, clock=clock)
        if ca.not_after < clock():
            raise SiteCaError(
                f"the site CA in {directory} expired on {_utc(ca.not_after):%Y-%m-%d}: move the directory away to "
                "make a new one, then enrol every agent again with its fingerprint"
            )
        return ca

    # ------------------------------------------------------------ server certificates

    def issue(self, common_name: str, names: Iterable[str], *, days: int) -> tuple[bytes, bytes]:
        """A new server certificate and its key (both PEM) for ``names``."""
        names = canonical_names(names)
        if not names:
            raise SiteCaError("a server certificate needs at least one name")
        key = _new_key()
        now = self._clock()
        not_after = min(now + days * 86400, self.not_after)  # never beyond the CA's own end
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_utc(now - BACKDATE_S))
            .not_valid_after(_utc(not_after))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(ca=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName([_general_name(n) for n in names]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False
            )
            .sign(self._key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)

    def check(self, cert_file: Path, key_file: Path, names: Iterable[str], *, renew_before_s: float) -> str | None:
        """Why the certificate in ``cert_file`` must be (re)issued, or None if it is fine as it is."""
        try:
            cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
            key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        except FileNotFoundError:
            return "none yet"
        except (OSError, ValueError) as exc:
            return f"unreadable ({exc})"
        if key.public_key() != cert.public_key():
            return "its key does not match"
        try:
            cert.verify_directly_issued_by(self.cert)
        except (ValueError, TypeError, InvalidSignature):
            return "not signed by this site CA"
        if _names_of(cert) != set(canonical_names(names)):
            return f"made for {sorted(_names_of(cert))}, now {canonical_names(names)}"
        left = cert.not_valid_after_utc.timestamp() - self._clock()
        if left <= renew_before_s:
            return f"ends on {cert.not_valid_after_utc:%Y-%m-%d}"
        return None

    def ensure_server(
        self, cert_file: Path, key_file: Path, *, common_name: str, names: Iterable[str], days: int,
        renew_before_s: float, key_mode: int = 0o600, force: str | None = None,
    ) -> ServerCert:  # fmt: skip
        """Keep a valid certificate for ``names`` in ``cert_file``/``key_file`` (see the module docstring);
        ``force``: issue a new one anyway, for this reason (an operator's rotation)."""
        wanted = canonical_names(names)
        reason = force or self.check(cert_file, key_file, wanted, renew_before_s=renew_before_s)
        if reason is not None:
            cert_pem, key_pem = self.issue(common_name, wanted, days=days)
            try:
                write_file(key_file, key_pem, key_mode)
                write_file(cert_file, cert_pem, 0o644)
            except OSError as exc:
                raise SiteCaError(f"cannot write {cert_file}: {exc.strerror or exc}") from None
            log.info("site CA: issued %s for %s (%s)", cert_file, ", ".join(wanted), reason)
        else:
            # Keep the key's mode as configured (e.g. after a change of key_mode).
            with contextlib.suppress(OSError):
                if key_file.stat().st_mode & 0o777 != key_mode:
                    key_file.chmod(key_mode)
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
        return ServerCert(
            cert_file, key_file, tuple(wanted), cert.not_valid_after_utc.timestamp(), reason, cert.serial_number
        )

