"""Key pairs and CSRs as an enrolling LMS makes them (a uniquely named module: test files import it by name)."""

from __future__ import annotations

from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

SPKI = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo


def csr_pem(key: Any, common_name: str = "ct-demo-site", digest: Any = None) -> str:
    request = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, common_name)]))
               .sign(key, digest or hashes.SHA256()))
    return request.public_bytes(serialization.Encoding.PEM).decode()


def ec_key(curve: ec.EllipticCurve | None = None) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(curve or ec.SECP256R1())


def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def private_pem(key: Any) -> str:
    return str(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode())


def public_der(key: Any) -> bytes:
    """The SubjectPublicKeyInfo of a key, a CSR's key or a certificate's key."""
    return bytes(key.public_bytes(*SPKI))


def certificate_key(certificate_pem: str) -> bytes:
    return public_der(x509.load_pem_x509_certificate(certificate_pem.encode()).public_key())
