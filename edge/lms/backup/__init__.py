"""Back up and restore one site's LMS: ``python -m edge.lms --config FILE backup|restore ARCHIVE``.

One archive (gzip'd tar, 0600: it holds the site CA's key) with a manifest first: what was backed up, by which
LMS and schema version, the SHA-256 of every member. The database is copied with SQLite's backup API (online:
the LMS may be running); the site CA, the site's cloud certificate, key and API key, the configuration file and,
when the LMS can read it, the broker's dynamic-security file come with it (:mod:`edge.lms.backup.site_layout`).
A restore checks everything before it writes anything (:mod:`edge.lms.backup.site_restore`).
"""

from __future__ import annotations

from edge.lms.backup.backup_archive import BackupError, BackupTooNew, Manifest, read_manifest
from edge.lms.backup.site_backup import make_backup
from edge.lms.backup.site_restore import restore_backup

__all__ = ["BackupError", "BackupTooNew", "Manifest", "make_backup", "read_manifest", "restore_backup"]
