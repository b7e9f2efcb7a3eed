"""Certificate signing requests of enrolling sites: checked before AWS IoT signs them (``CreateCertificateFromCsr``).

The LMS makes its key pair and sends only a PKCS#10 CSR; the cloud never sees, makes or stores a private key. A CSR
is accepted when it is one PEM block (``CERTIFICATE REQUEST``) of at most :data:`MAX_CSR_CHARS` characters with
nothing else around it, its self-signature is valid and made with SHA-256 or stronger, and its key is one AWS IoT
Core accepts for device certificates and this project allows: EC on P-256 or P-384, or RSA of 2048 to 4096 bits.

``cryptography`` is imported on first use, so that other Lambda paths do not pay for it.
"""

from __future__ import annotations

import re

from chalicelib.errors import BadRequest

#: a 4096-bit RSA CSR with a long subject is ~1.8 KB of PEM
MAX_CSR_CHARS = 8192
RSA_BITS = (2048, 4096)
EC_CURVES = ("secp256r1", "secp384r1")
_HASHES = ("sha256", "sha384", "sha512")
_BLOCK = re.compile(r"-----BEGIN CERTIFICATE REQUEST-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE REQUEST-----")


def check_csr(pem: str) -> str:
    """The CSR, stripped, if it may be signed; else :class:`BadRequest` saying why (field ``csr``)."""
    if len(pem) > MAX_CSR_CHARS:
        raise BadRequest(f"csr: {len(pem)} characters, more than the {MAX_CSR_CHARS} a CSR needs")
    if "PRIVATE KEY" in pem:
        raise BadRequest("csr: holds a private key; send only the certificate signing request and keep the key "
                         "on the LMS")
    text = pem.strip()
    blocks = _BLOCK.findall(text)
    if len(blocks) != 1 or blocks[0] != text:
        raise BadRequest("csr: expected exactly one PEM block '-----BEGIN CERTIFICATE REQUEST-----' and nothing "
                         "else")

    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    try:
        request = x509.load_pem_x509_csr(text.encode("ascii"))
        signed = request.is_signature_valid
        digest = request.signature_hash_algorithm
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise BadRequest(f"csr: not a valid PKCS#10 request: {str(exc)[:200]}") from None
    if not signed:
        raise BadRequest("csr: its signature does not verify with its own public key")
    if digest is None or digest.name not in _HASHES:
        raise BadRequest(f"csr: signed with {getattr(digest, 'name', 'no hash')}; use one of {', '.join(_HASHES)}")
    key = request.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if not RSA_BITS[0] <= key.key_size <= RSA_BITS[1]:
            raise BadRequest(f"csr: an RSA key of {key.key_size} bits; use {RSA_BITS[0]} to {RSA_BITS[1]} bits")
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in EC_CURVES:
            raise BadRequest(f"csr: an EC key on {key.curve.name}; use one of {', '.join(EC_CURVES)}")
    else:
        raise BadRequest(f"csr: a {type(key).__name__.lstrip('_')} key; use EC (P-256, P-384) or RSA")
    return text + "\n"
