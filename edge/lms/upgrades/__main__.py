"""``python -m edge.lms.upgrades``: the release key and the LMS's package cache.

* ``keygen --private-key FILE`` — a new Ed25519 release key (FILE, mode 600); prints the public key for
  ``[upgrades] release_public_key`` (LMS) and ``[upgrade] release_public_key`` (agents).
* ``sign --private-key FILE --version V PACKAGE`` — prints the package's sha256 and signature (release tooling).
* ``add-package --config lms.toml --version V --signature SIG PACKAGE`` — verify the package against the
  configured release key and store it in the LMS's data directory (the running LMS serves it at once).

Exit codes: 0 done, 1 refused (the reason on stderr, nothing stored), 2 bad command line or configuration.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.lms.config import ConfigError, load_config
from edge.lms.upgrades.packages import PackageStore, packages_dir
from edge.lms.upgrades.runner import NOT_CONFIGURED
from shared.agent_packages import PackageError, public_key_text, sha256_of, sign


def _private_key(path: Path) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(base64.b64decode(path.read_text(encoding="ascii").strip()))


def keygen(path: Path) -> int:
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    key = Ed25519PrivateKey.generate()
    raw = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(base64.b64encode(raw).decode("ascii") + "\n")
    print(public_key_text(key.public_key()))
    return 0


def add_package(config_path: Path, version: str, signature: str, package: Path) -> int:
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if config.upgrades is None:
        print(f"error: {NOT_CONFIGURED}", file=sys.stderr)
        return 2
    data = package.read_bytes()
    try:
        info = PackageStore(packages_dir(config.db_path), config.upgrades.release_public_key).add(
            version, data, sha256_of(data), signature
        )
    except PackageError as exc:
        print(f"refused: {exc.message}", file=sys.stderr)
        return 1
    print(f"stored {info.version} sha256={info.sha256} ({info.size} bytes)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge.lms.upgrades", description="agent packages")
    sub = parser.add_subparsers(dest="action", required=True)
    p = sub.add_parser("keygen", help="a new release key")
    p.add_argument("--private-key", required=True, type=Path)
    p = sub.add_parser("sign", help="sign a package")
    p.add_argument("--private-key", required=True, type=Path)
    p.add_argument("--version", required=True)
    p.add_argument("package", type=Path)
    p = sub.add_parser("add-package", help="verify and store a package in the LMS's cache")
    p.add_argument("--config", required=True, type=Path)
    p.add_argument("--version", required=True)
    p.add_argument("--signature", required=True)
    p.add_argument("package", type=Path)
    args = parser.parse_args(argv)
    if args.action == "keygen":
        return keygen(args.private_key)
    if args.action == "sign":
        data = args.package.read_bytes()
        digest = sha256_of(data)
        print(f"sha256={digest}\nsignature={sign(_private_key(args.private_key), args.version, digest)}")
        return 0
    return add_package(args.config, args.version, args.signature, args.package)


if __name__ == "__main__":
    sys.exit(main())
