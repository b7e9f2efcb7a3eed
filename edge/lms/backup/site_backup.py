"""Making a backup (``backup ARCHIVE``): online — the LMS and the broker may be running.

The database is copied with SQLite's backup API (one consistent snapshot, writers not blocked for long). The
broker's dynamic-security file (when ``state_file`` is set) is read just before; an agent enrolled between the
two reads would be in the database without its broker client, so the two are compared (every agent with active
credentials in the copy has its client in the file) and taken again when they disagree.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import tempfile
import time
from pathlib import Path

from edge.lms import __version__
from edge.lms.backup.backup_archive import FORMAT, BackupError, Manifest, Member, sha256_file, write_archive
from edge.lms.backup.site_layout import DB, DYNSEC, SiteLayout
from edge.lms.config import LmsConfig

ATTEMPTS = 5
NOT_INCLUDED = "not included: "


def make_backup(config_path: Path, cfg: LmsConfig, archive: Path) -> Manifest:
    """Write the site's backup to ``archive`` (a new file, 0600); returns its manifest. :class:`BackupError`."""
    layout = SiteLayout(config_path, cfg)
    if archive.exists():
        raise BackupError(f"{archive} exists: give a new file name (a backup never overwrites a file)")
    if not layout.db_path.is_file():
        raise BackupError(f"no database at {layout.db_path}: nothing to back up")
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".lms-backup-", dir=archive.parent) as work:
        db_copy, dynsec_copy = Path(work) / DB, Path(work) / "dynamic-security.json"
        broker_state = _snapshot(layout, db_copy, dynsec_copy)
        files = {DB: db_copy, **layout.files_to_back_up(skip=Path(work))}
        if not broker_state.startswith(NOT_INCLUDED):
            files[DYNSEC] = dynsec_copy
        manifest = Manifest(
            format=FORMAT, created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), lms_version=__version__,
            schema_version=_user_version(db_copy), tenant=cfg.tenant, stage=cfg.stage, site_id=cfg.site_id,
            broker_state=broker_state,
            members={name: Member(sha256=sha256_file(path), size=path.stat().st_size,
                                  mode=path.stat().st_mode & 0o777) for name, path in files.items()},
        )  # fmt: skip
        fd, tmp = tempfile.mkstemp(prefix=f".{archive.name}.", dir=archive.parent)
        os.close(fd)
        try:
            write_archive(Path(tmp), manifest, files)
            os.chmod(tmp, 0o600)
            os.replace(tmp, archive)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
    return manifest


def _snapshot(layout: SiteLayout, db_copy: Path, dynsec_copy: Path) -> str:
    """Copy the database (and the dynsec file) into the work directory; the manifest's ``broker_state``."""
    dynsec = layout.cfg.site_broker.dynsec
    if dynsec is None:
        _copy_database(layout.db_path, db_copy)
        return NOT_INCLUDED + "no [site_broker.dynsec]: agents' broker passwords are in the broker's own files"
    if layout.dynsec_file is None:
        _copy_database(layout.db_path, db_copy)
        return (NOT_INCLUDED + "[site_broker.dynsec] state_file is not set: back up the broker's "
                "dynamic-security.json separately (docs/operations.md)")  # fmt: skip
    missing: set[str] = set()
    for _ in range(ATTEMPTS):
        clients = _read_dynsec(layout.dynsec_file, dynsec_copy)
        _copy_database(layout.db_path, db_copy)
        missing = _active_agents(db_copy) - clients
        if not missing:
            return "included"
        time.sleep(0.2)
    raise BackupError(
        f"the broker's {layout.dynsec_file} lacks the clients of enrolled agents {', '.join(sorted(missing))} "
        f"({ATTEMPTS} tries): is state_file the file the broker uses (its plugin_opt_config_file)?"
    )


def _read_dynsec(path: Path, copy: Path) -> set[str]:
    """Copy the broker's dynamic-security file; the usernames of its clients."""
    for _ in range(ATTEMPTS):
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise BackupError(f"cannot read the broker's dynamic-security file {path} (state_file): {exc}") from None
        try:
            clients = json.loads(raw).get("clients", [])
            names = {str(c["username"]) for c in clients}
        except (ValueError, AttributeError, TypeError, KeyError):
            time.sleep(0.2)  # the broker may be rewriting it
            continue
        copy.write_bytes(raw)
        return names
    raise BackupError(f"{path} (state_file) is not a dynamic-security file of Mosquitto")


def _copy_database(db_path: Path, copy: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        copy.unlink()
    try:
        source = sqlite3.connect(db_path, timeout=30.0)
        try:
            target = sqlite3.connect(copy)
            try:
                source.backup(target)
            finally:
                target.close()
        finally:
            source.close()
    except sqlite3.Error as exc:
        raise BackupError(f"cannot copy the database {db_path}: {exc}") from None


def _user_version(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def _active_agents(db: Path) -> set[str]:
    """Agents with broker credentials in the copy (none before the enrolment tables exist)."""
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT agent_id FROM enrollments WHERE revoked_at IS NULL").fetchall()
    except sqlite3.OperationalError:
        return set()
    finally:
        conn.close()
    return {str(r[0]) for r in rows}
