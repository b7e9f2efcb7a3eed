"""Signed agent packages: what the release key signs, how a signature is checked, and how versions compare.

A package is a ``.tar.gz`` of the agent's code (``edge/``, ``shared/``) with a ``VERSION`` file at its root. The
release key (Ed25519) signs the *manifest* ``classtop-agent-package/v1\\n<version>\\n<sha256 hex>\\n``, so a
signature binds the bytes to one version: an old package cannot be relabelled as a new one, and a package not
signed by the release key is refused by the LMS (on upload) and by the agent (before it installs anything).
Keys and signatures travel as standard base64 (32 and 64 raw bytes). docs/upgrades.md has the whole design.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from typing import TYPE_CHECKING

from shared.errors import ErrorCode, SharedError

if TYPE_CHECKING:  # ``cryptography`` (~8 MB resident) loads when a key is used, not with the agent (footprint)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

#: ``1.2.3`` (one to four numeric parts): the only versions a package may carry, so they always compare
VERSION_PATTERN = r"^[0-9]{1,6}(\.[0-9]{1,6}){0,3}$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"
SIGNATURE_PATTERN = r"^[A-Za-z0-9+/]{86}==$"
MANIFEST_HEADER = "classtop-agent-package/v1"
VERSION_FILE = "VERSION"
MAX_PACKAGE_BYTES = 64 * 1024 * 1024


class PackageError(SharedError):
    """A package, checksum, signature or version that is refused; the message says which and why."""

    code = ErrorCode.INVALID_PARAMS


def manifest(version: str, sha256: str) -> bytes:
    """The bytes the release key signs for the package ``sha256`` of ``version``."""
    return f"{MANIFEST_HEADER}\n{version}\n{sha256}\n".encode("ascii")


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def version_key(version: str) -> tuple[int, ...]:
    """``"1.2"`` -> ``(1, 2, 0, 0)``; a version outside :data:`VERSION_PATTERN` (e.g. ``0.0.0+local``) counts by
    its leading numbers, and as ``(0, 0, 0, 0)`` when it has none."""
    head = re.match(r"^[0-9]+(\.[0-9]+)*", version)
    parts = [int(p) for p in head.group(0).split(".")[:4]] if head else []
    return tuple(parts + [0] * (4 - len(parts)))


def is_newer(candidate: str, current: str) -> bool:
    return version_key(candidate) > version_key(current)


def _public_key_bytes(text: str) -> bytes:
    """The 32 raw bytes of a base64 release public key; :class:`PackageError` if it is not one. Any 32 bytes are
    an Ed25519 public key to ``Ed25519PublicKey.from_public_bytes``, so this is the same check without loading
    ``cryptography``."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise PackageError("the release public key is not a base64 Ed25519 public key (32 bytes)")
    return raw


def public_key_of(text: str) -> Ed25519PublicKey:
    """The release public key from its base64 text (32 raw bytes); :class:`PackageError` if it is not one."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    raw = _public_key_bytes(text)
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise PackageError("the release public key is not a base64 Ed25519 public key (32 bytes)") from None


def checked_public_key(text: str) -> str:
    """``text`` if it is a release public key, else ``ValueError`` (for the config models' validators)."""
    try:
        _public_key_bytes(text)
    except PackageError as exc:
        raise ValueError(exc.message) from None
    return text


def public_key_text(key: Ed25519PublicKey) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return base64.b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode("ascii")


def sign(key: Ed25519PrivateKey, version: str, sha256: str) -> str:
    """The base64 signature of the manifest of ``version`` / ``sha256`` (the release tooling; tests)."""
    return base64.b64encode(key.sign(manifest(version, sha256))).decode("ascii")


def check_version(version: str) -> str:
    if not re.match(VERSION_PATTERN, version):
        raise PackageError(f"version {version[:64]!r} is not a release version like 1.2.3")
    return version


def verify(public_key: Ed25519PublicKey, version: str, data: bytes, sha256: str, signature: str) -> None:
    """Refuse (:class:`PackageError`) unless ``data`` hashes to ``sha256`` and ``signature`` is the release key's
    over the manifest of ``version`` and that hash. Checks, in order: version, size, checksum, signature."""
    check_version(version)
    if len(data) > MAX_PACKAGE_BYTES:
        raise PackageError(f"package of {len(data)} bytes is over the {MAX_PACKAGE_BYTES} byte limit")
    actual = sha256_of(data)
    if actual != sha256:
        raise PackageError(f"checksum mismatch: the package's sha256 is {actual}, not {sha256}")
    try:
        raw = base64.b64decode(signature, validate=True)
    except binascii.Error:
        raise PackageError("the signature is not base64") from None
    from cryptography.exceptions import InvalidSignature

    try:
        public_key.verify(raw, manifest(version, sha256))
    except InvalidSignature:
        raise PackageError(
            f"bad signature: package {version} ({sha256[:12]}...) is not signed by the release key"
        ) from None
