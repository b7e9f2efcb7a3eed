"""The local twin's stand-in for Amazon's IoT certificate authority: the root CA the LMS trusts like
``AmazonRootCA1.pem``, the IoT Core stand-in broker's server certificate, the certificates IoT issues from a
site's CSR at enrolment (``iot:CreateCertificateFromCsr``) and the privileged certificates of the twin's own
IoT Core parts (rules engine, shadow service, publisher: inside IoT Core in AWS).

All keys are EC P-256. The CA is kept in its directory (``ca.key`` 0600, ``ca.crt``), made on first use.
A certificate issued from a CSR keeps the CSR's subject (the site's CSR names its thing: ``CN=<thing name>``,
which the stand-in broker takes as the client's identity, ``use_identity_as_username``) and its public key;
its ``extendedKeyUsage`` is ``clientAuth`` only, so it cannot serve TLS.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from edge.lms.tls.site_ca import BACKDATE_S, canonical_names, write_file

CA_NAME = "ClassTop local twin stand-in for Amazon Root CA 1"
CA_DAYS = 3650
CERT_DAYS = 365
#: What an issued certificate's common name may be: a thing name or a twin part's name (IoT's thing-name rule).
MAX_NAME_BYTES = 128


class IotCaError(ValueError):
    """A CSR or a name the stand-in CA refuses (the message says why), or unreadable CA files."""


@dataclass(frozen=True, slots=True)
class CertFiles:
    cert_file: Path
    key_file: Path


def _utc(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca, content_commitment=False, key_encipherment=False, data_encipherment=False,
        key_agreement=False, key_cert_sign=ca, crl_sign=ca, encipher_only=False, decipher_only=False,
    )


def _general_name(name: str) -> x509.GeneralName:
    import ipaddress

    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def check_name(name: str) -> str:
    """A certificate common name the twin issues: 1-128 bytes, printable, no MQTT wildcard or separator."""
    if not name or len(name.encode()) > MAX_NAME_BYTES or not name.isprintable() or any(c in name for c in "+#/"):
        raise IotCaError(f"unusable certificate name {name!r}: 1-{MAX_NAME_BYTES} printable bytes, no + # /")
    return name


class IotCa:
    """The stand-in root CA in ``directory`` (made there on first use)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        cert_file, key_file = self.directory / "ca.crt", self.directory / "ca.key"
        if cert_file.exists() and key_file.exists():
            try:
                self.cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
                key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
            except (OSError, ValueError) as exc:
                raise IotCaError(f"the twin's IoT CA in {self.directory} is unreadable: {exc}") from None
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise IotCaError(f"the twin's IoT CA key in {self.directory} is not an EC key")
            self._key = key
            return
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ClassTop local twin"),
                             x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
        now = time.time()
        self.cert = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(self._key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(_utc(now - BACKDATE_S)).not_valid_after(_utc(now + CA_DAYS * 86400))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_usage(ca=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self._key.public_key()), critical=False)
            .sign(self._key, hashes.SHA256())
        )  # fmt: skip
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o755)  # the broker (user `mosquitto`) reads ca.crt and its own files here
        write_file(key_file, _key_pem(self._key), 0o600)
        write_file(cert_file, self.cert.public_bytes(serialization.Encoding.PEM), 0o644)

    @property
    def ca_file(self) -> Path:
        """The root CA certificate: what the LMS is given as ``[cloud.tls] ca_file`` (AmazonRootCA1.pem in AWS)."""
        return self.directory / "ca.crt"

    def _sign(self, subject: x509.Name, public_key: ec.EllipticCurvePublicKey | object, *,
              server_names: Iterable[str] = ()) -> bytes:
        names = canonical_names(server_names)
        now = time.time()
        builder = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(self.cert.subject)
            .public_key(public_key)  # type: ignore[arg-type]  # checked by the caller
            .serial_number(x509.random_serial_number())
            .not_valid_before(_utc(now - BACKDATE_S)).not_valid_after(_utc(now + CERT_DAYS * 86400))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_usage(ca=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH] if names else [ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                           critical=False)
        )  # fmt: skip
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName([_general_name(n) for n in names]),
                                            critical=False)
        return builder.sign(self._key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)

    def sign_csr(self, csr_pem: str) -> str:
        """The certificate for a CSR (its subject and public key), as IoT's ``CreateCertificateFromCsr`` makes it.

        Refuses (:class:`IotCaError`) what AWS refuses as ``InvalidRequestException``: no PEM CSR, a bad
        signature, a key that is neither EC nor RSA."""
        try:
            request = x509.load_pem_x509_csr(csr_pem.encode())
        except (ValueError, UnicodeEncodeError) as exc:
            raise IotCaError(f"invalid CSR: {exc}") from None
        if not request.is_signature_valid:
            raise IotCaError("invalid CSR: bad signature")
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = request.public_key()
        if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
            raise IotCaError("invalid CSR: the key must be EC or RSA")
        return self._sign(request.subject, key).decode()

    def _issue(self, files: CertFiles, common_name: str, server_names: Iterable[str] = ()) -> CertFiles:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, check_name(common_name))])
        cert = self._sign(subject, key.public_key(), server_names=server_names)
        write_file(files.key_file, _key_pem(key), 0o600)
        write_file(files.cert_file, cert, 0o644)
        return files

    def issue_server(self, directory: Path, names: Iterable[str] = ("127.0.0.1", "localhost")) -> CertFiles:
        """The stand-in broker's server certificate for ``names`` (new on every call)."""
        return self._issue(CertFiles(directory / "server.crt", directory / "server.key"), "iot-core-stand-in",
                           names)

    def issue_client(self, directory: Path, name: str) -> CertFiles:
        """A client certificate ``CN=<name>`` (a twin IoT Core part's privileged identity; new on every call)."""
        return self._issue(CertFiles(directory / f"{name}.crt", directory / f"{name}.key"), name)
