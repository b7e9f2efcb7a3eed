"""Restoring a backup (``restore ARCHIVE [--force]``) onto a stopped LMS, ideally a fresh data directory.

Refused, with nothing changed: an archive that is not one, has a bad manifest, names a member outside the backup
(path traversal, links), does not match its checksums (tampered or damaged), comes from a newer LMS (its schema
version above this one's) or from another site than the configuration's; a restore while the LMS runs (its
database lock is held: :class:`~edge.lms.store.DatabaseLock`, kept here for the whole restore so the LMS cannot
start half-way); a restore over existing data without ``force``; the broker's state while the broker runs.

Everything is checked (one full read of the archive) before the first file is written; each file is then
written atomically. The configuration file is taken from the archive when ``--config`` names no file yet.
"""

from __future__ import annotations

import contextlib
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

from edge.lms import __version__
from edge.lms.backup.backup_archive import BackupError, BackupTooNew, Manifest, members, read_manifest, verify
from edge.lms.backup.site_layout import CONFIG, DB, DYNSEC, SiteLayout
from edge.lms.config import ConfigError, LmsConfig, load_layout
from edge.lms.schema import SCHEMA_VERSION
from edge.lms.store import DatabaseLock, StoreError
from shared.files import write_atomic_from

#: Files beside the database that belong to the database (a stale ``-wal`` replayed on a restored copy corrupts it).
_DB_SIDE_FILES = ("-wal", "-shm")


@dataclass
class Restored:
    manifest: Manifest
    written: list[Path] = field(default_factory=list)
    #: where the broker's state went when the configuration has no ``state_file`` (the technician moves it)
    dynsec_elsewhere: Path | None = None


def restore_backup(config_path: Path, archive: Path, *, force: bool = False) -> Restored:
    """Restore ``archive`` where the configuration at ``config_path`` (or the archive's own) puts things."""
    manifest = read_manifest(archive)
    if manifest.schema_version > SCHEMA_VERSION:
        raise BackupTooNew(
            f"refused: the backup was made by LMS {manifest.lms_version} with schema version "
            f"{manifest.schema_version}; this LMS {__version__} knows schema versions up to {SCHEMA_VERSION}. "
            f"Restore it with LMS {manifest.lms_version} or newer. Nothing was changed."
        )
    verify(archive, manifest)
    config_text = _member_bytes(archive, manifest, CONFIG) if not config_path.exists() else None
    cfg = _layout_config(config_path, config_text)
    if (cfg.tenant, cfg.stage, cfg.site_id) != (manifest.tenant, manifest.stage, manifest.site_id):
        raise BackupError(
            f"refused: the backup is of site {manifest.site_id} ({manifest.tenant}/{manifest.stage}), the "
            f"configuration {config_path} is of site {cfg.site_id} ({cfg.tenant}/{cfg.stage})"
        )
    layout = SiteLayout(config_path, cfg)
    try:
        lock = DatabaseLock(layout.db_path).acquire("a restore")
    except StoreError as exc:
        raise BackupError(f"refused: {exc}: stop the LMS first (nothing was changed)") from None
    with lock:
        targets = _targets(layout, manifest, config_path)
        if not force:
            existing = [str(path) for name, path in targets.items() if name != CONFIG and path.exists()]
            if existing:
                raise BackupError(
                    f"refused: data is already there ({', '.join(existing[:5])}{' ...' if len(existing) > 5 else ''}"
                    "): restore onto a fresh data directory, or give --force to replace it. Nothing was changed."
                )
        if DYNSEC in targets and layout.dynsec_file is not None:
            _refuse_running_broker(cfg)
        return _write(archive, manifest, targets, layout)


def _layout_config(config_path: Path, config_text: bytes | None) -> LmsConfig:
    """The target's configuration: the file at ``config_path``, or the archive's copy (not yet written)."""
    try:
        text = None if config_text is None else config_text.decode()
        return load_layout(config_path, text)
    except (ConfigError, UnicodeDecodeError) as exc:
        raise BackupError(f"the configuration cannot be read: {exc}") from None


def _targets(layout: SiteLayout, manifest: Manifest, config_path: Path) -> dict[str, Path]:
    targets: dict[str, Path] = {}
    for name in manifest.members:
        target = layout.target(name)
        if target is None and name == DYNSEC:
            target = layout.db_path.parent / "broker-restore" / "dynamic-security.json"
        if target is None:
            raise BackupError(f"refused: this configuration has no place for {name} (no [cloud.tls]?)")
        if name == CONFIG and config_path.exists():
            continue  # the operator's own file stays
        targets[name] = target
    return targets


def _refuse_running_broker(cfg: LmsConfig) -> None:
    """The broker rewrites its dynamic-security file: it must not run while the file is replaced."""
    broker = cfg.site_broker
    with contextlib.suppress(OSError), socket.create_connection((broker.host, broker.port), timeout=1.0):
        raise BackupError(
            f"refused: the site broker answers on {broker.host}:{broker.port}; stop it while its dynamic-security "
            "file is restored, and start it after. Nothing was changed."
        )


def _member_bytes(archive: Path, manifest: Manifest, wanted: str) -> bytes:
    for name, tar, info in members(archive, manifest):
        if name == wanted:
            fh = tar.extractfile(info)
            assert fh is not None
            return fh.read()
    raise BackupError(f"{archive} has no {wanted}")


def _write(archive: Path, manifest: Manifest, targets: dict[str, Path], layout: SiteLayout) -> Restored:
    result = Restored(manifest)
    for name, tar, info in members(archive, manifest):
        target = targets.get(name)
        if target is None:
            continue
        fh = tar.extractfile(info)
        assert fh is not None
        if name == DB:  # first: the old database's journal must never meet the restored file
            for suffix in _DB_SIDE_FILES:
                target.with_name(target.name + suffix).unlink(missing_ok=True)
        write_atomic_from(target, fh, mode=manifest.members[name].mode)
        if name == DYNSEC:
            _owned_like_its_directory(target)
            if target != layout.dynsec_file:
                result.dynsec_elsewhere = target
        result.written.append(target)
    return result


def _owned_like_its_directory(path: Path) -> None:
    """Run as root, give the broker's file to the broker's user (its directory's owner): the broker reads it."""
    if os.geteuid() == 0:
        parent = path.parent.stat()
        os.chown(path, parent.st_uid, parent.st_gid)
