"""The LMS's cache of agent packages (``<data dir>/agent-packages/``): verified when added, served to agents.

Each version is ``<version>.tar.gz`` with ``<version>.json`` beside it (version, sha256, signature, size, added
at); the JSON is written last, so a package is listed only once it is whole. Adding refuses a package whose
checksum or signature (the release key's, over version + sha256) does not hold, whose ``VERSION`` file says
another version, or a version already present (a version is immutable).
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from shared.agent_packages import VERSION_FILE, PackageError, check_version, public_key_of, verify

#: the cache's directory beside the LMS's database (in the container: ``/data/agent-packages``)
PACKAGES_DIR = "agent-packages"


def packages_dir(db_path: Path) -> Path:
    """Where the LMS keeps agent packages: ``agent-packages/`` beside its database (``db_path``)."""
    return db_path.parent / PACKAGES_DIR


@dataclass(frozen=True, slots=True)
class PackageInfo:
    version: str
    sha256: str
    signature: str
    size: int
    added_at: float


class PackageStore:
    def __init__(self, directory: Path, release_public_key: str) -> None:
        self.directory = directory
        self.public_key = public_key_of(release_public_key)

    def add(self, version: str, data: bytes, sha256: str, signature: str) -> PackageInfo:
        verify(self.public_key, version, data, sha256, signature)
        found = _version_file(data)
        if found != version:
            raise PackageError(f"the package's {VERSION_FILE} file says {found!r}, not {version!r}")
        if self.get(version) is not None:
            raise PackageError(f"package {version} is already stored (a version never changes)")
        self.directory.mkdir(parents=True, exist_ok=True)
        info = PackageInfo(version, sha256, signature, len(data), time.time())
        _write(self.archive(version), data)
        _write(self.directory / f"{version}.json", json.dumps(asdict(info)).encode())
        return info

    def get(self, version: str) -> PackageInfo | None:
        try:
            check_version(version)
            data = json.loads((self.directory / f"{version}.json").read_text(encoding="utf-8"))
            return PackageInfo(**data)
        except (PackageError, OSError, ValueError, TypeError):
            return None

    def list(self) -> list[PackageInfo]:
        if not self.directory.is_dir():
            return []
        found = (self.get(p.name.removesuffix(".json")) for p in self.directory.glob("*.json"))
        return sorted((i for i in found if i is not None), key=lambda i: i.added_at)

    def archive(self, version: str) -> Path:
        return self.directory / f"{check_version(version)}.tar.gz"


def _version_file(data: bytes) -> str | None:
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            member = tar.getmember(VERSION_FILE)
            handle = tar.extractfile(member) if member.isfile() and member.size < 100 else None
            return handle.read().decode("utf-8", "replace").strip() if handle is not None else None
    except KeyError:
        return None
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise PackageError(f"package is not a readable .tar.gz: {exc}") from None


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
