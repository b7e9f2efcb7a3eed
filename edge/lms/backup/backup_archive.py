"""The backup archive: a gzip'd tar whose first member is ``manifest.json`` (:class:`Manifest`), then regular
files only, each named in the manifest with its SHA-256. Reading checks it all before anyone writes a byte:
member names (no absolute paths, no ``..``, no links or devices, nothing unlisted, nothing missing, no
duplicates) and checksums."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.messages import describe_validation_error

MANIFEST = "manifest.json"
FORMAT = 1
_CHUNK = 1 << 20


class BackupError(Exception):
    """A backup cannot be made, or an archive is refused (the message says why; nothing was changed)."""


class BackupTooNew(BackupError):
    """The archive was made by an LMS whose schema version is above this one's."""


class Member(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the member's bytes")
    size: int = Field(ge=0, description="bytes")
    mode: int = Field(ge=0, le=0o777, description="permission bits to restore")


class Manifest(BaseModel):
    """What an archive holds and who made it."""

    model_config = ConfigDict(extra="forbid")

    format: int = Field(description="this archive layout's version (1)")
    created_at: str = Field(description="when the backup was made (UTC, ISO 8601)")
    lms_version: str = Field(max_length=64, description="the LMS that made it")
    schema_version: int = Field(ge=1, description="the database's schema version (PRAGMA user_version)")
    tenant: str = Field(max_length=64)
    stage: str = Field(max_length=64)
    site_id: str = Field(max_length=128)
    broker_state: str = Field(max_length=500, description="'included', or why the broker's state is not")
    members: dict[str, Member] = Field(description="archive name -> checksum, size and mode")


def safe_name(name: str) -> str:
    """``name`` when it is a plain relative path inside the archive, else :class:`BackupError`."""
    path = PurePosixPath(name)
    if (not name or name != str(path) or path.is_absolute() or any(part in ("..", ".", "") for part in path.parts)
            or "\\" in name or "\0" in name):  # fmt: skip
        raise BackupError(f"refused: the archive names a member {name!r} outside the backup (path traversal)")
    return name


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_archive(target: Path, manifest: Manifest, files: dict[str, Path]) -> None:
    """Write the archive to ``target`` (an open new file's path): the manifest first, then ``files``."""
    data = json.dumps(manifest.model_dump(), indent=2, sort_keys=True).encode()
    with tarfile.open(target, "w:gz") as tar:
        info = tarfile.TarInfo(MANIFEST)
        info.size, info.mode, info.mtime = len(data), 0o600, 0
        tar.addfile(info, io.BytesIO(data))
        for name, path in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = path.stat().st_size, manifest.members[name].mode, 0
            with path.open("rb") as fh:
                tar.addfile(info, fh)


def _open(archive: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(archive, "r:gz")
    except FileNotFoundError:
        raise BackupError(f"no backup at {archive}") from None
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BackupError(f"{archive} is not a backup archive of the LMS: {exc}") from None


def read_manifest(archive: Path) -> Manifest:
    """The archive's manifest (its first member), without checking the rest."""
    with _open(archive) as tar:
        try:
            first = tar.next()
            if first is None or first.name != MANIFEST or not first.isfile():
                raise BackupError(f"{archive}: no {MANIFEST} first: not a backup archive of the LMS")
            fh = tar.extractfile(first)
            assert fh is not None
            raw = fh.read(1 << 20)
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise BackupError(f"{archive} is damaged: {exc}") from None
    try:
        manifest = Manifest.model_validate_json(raw)
    except ValidationError as exc:
        raise BackupError(f"{archive}: invalid manifest: {describe_validation_error(exc, limit=5)}") from None
    if manifest.format != FORMAT:
        raise BackupError(f"{archive}: archive format {manifest.format}, this LMS reads format {FORMAT}")
    for name in manifest.members:
        safe_name(name)
    return manifest


def members(archive: Path, manifest: Manifest) -> Iterator[tuple[str, tarfile.TarFile, tarfile.TarInfo]]:
    """Each member after the manifest, checked: a regular file, a safe name, listed once in the manifest."""
    seen: set[str] = set()
    with _open(archive) as tar:
        try:
            for info in tar:
                if info.name == MANIFEST and not seen and info.offset == 0:
                    continue
                name = safe_name(info.name)
                if not info.isfile():
                    raise BackupError(f"refused: member {name!r} is not a regular file (links, devices are refused)")
                if name not in manifest.members or name in seen:
                    why = "repeated" if name in seen else "not in the manifest"
                    raise BackupError(f"refused: member {name!r} is {why}")
                seen.add(name)
                yield name, tar, info
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise BackupError(f"{archive} is damaged: {exc}") from None
    missing = sorted(set(manifest.members) - seen)
    if missing:
        raise BackupError(f"refused: the archive lacks {', '.join(missing)} (listed in its manifest)")


def verify(archive: Path, manifest: Manifest) -> None:
    """Every member's checksum and size as the manifest says (reads the archive; writes nothing)."""
    for name, tar, info in members(archive, manifest):
        fh = tar.extractfile(info)
        assert fh is not None
        digest, size = hashlib.sha256(), 0
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
        expected = manifest.members[name]
        if digest.hexdigest() != expected.sha256 or size != expected.size:
            raise BackupError(
                f"refused: {name} in the archive does not match its checksum in the manifest (the archive was "
                "changed or damaged after it was made)"
            )
