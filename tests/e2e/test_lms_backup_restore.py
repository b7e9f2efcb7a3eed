"""Back up and restore a site on the local twin, as a site technician of the container setup does it
(docs/operations.md, "Site operations: back up and restore"): the LMS's archive made while everything runs, the
broker's dynamic-security file copied beside it; then the site is lost — the LMS's data directory deleted, the
broker's data emptied —, both restored (the passwords from the technician's own copy, as ``site.env``), and the
site comes back with the same agents, over TLS pinned to the same site CA, without any agent enrolling again;
the cloud lists them online. A restore onto the running LMS is refused and changes nothing.

And the way back from an upgrade is refused too (docs/operations.md, "Site operations: upgrade the LMS", step 4):
this LMS over a database a newer one wrote exits 3 and changes nothing."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from edge.lms.cli import EXIT_OK, EXIT_SCHEMA
from edge.lms.schema import SCHEMA_VERSION
from infra.local.process import wait_for
from infra.local.twin import Twin
from shared.files import write_atomic

pytestmark = pytest.mark.e2e

AGENTS = ("bk-1", "bk-2")
REPO = Path(__file__).resolve().parents[2]


def _lms_cli(twin: Twin, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge.lms", "--config", str(twin.lms_dir / "lms.toml"), *args],
                          cwd=REPO, env=dict(os.environ), capture_output=True, text=True, timeout=120)  # fmt: skip


#: what a running LMS itself writes to (its database)
LIVE = ("lms.db", "lms.db-wal", "lms.db-shm")


def _tree(root: Path, *, running: bool = False) -> dict[str, str]:
    """Every file's hash; with ``running``, the live database files by inode only (the LMS writes them; a restore
    would replace them)."""
    def digest(p: Path) -> str:
        return str(p.stat().st_ino) if running and p.name in LIVE else hashlib.sha256(p.read_bytes()).hexdigest()

    files = (p for p in sorted(root.rglob("*")) if p.is_file() and "logs" not in p.parts)
    return {str(p.relative_to(root)): digest(p) for p in files}


def test_a_lost_site_restored_from_its_backup_serves_the_same_agents_without_re_enrolment(
    twin: Twin, tmp_path: Path
) -> None:
    assert twin.lms is not None and twin.site_broker is not None
    archive, dynsec_copy = tmp_path / "lms-backup.tar.gz", tmp_path / "broker-dynsec.json"
    credentials = {a: (twin.workdir / "agents" / a / "state" / "credentials.json").read_bytes() for a in AGENTS}
    ca_before = twin.lms_ca_file.read_bytes()

    # Back up, online (steps 1 and 2).
    made = _lms_cli(twin, "backup", str(archive))
    assert made.returncode == EXIT_OK, made.stderr
    shutil.copyfile(twin.site_broker.dynsec_file, dynsec_copy)

    # A restore onto the running LMS is refused, and changes nothing.
    before = _tree(twin.lms_dir, running=True)
    refused = _lms_cli(twin, "restore", "--force", str(archive))
    assert refused.returncode != EXIT_OK and "stop the LMS first" in refused.stderr, refused.stderr
    assert _tree(twin.lms_dir, running=True) == before

    # The site is lost.
    twin.lms.stop()
    twin.site_broker.stop()
    shutil.rmtree(twin.lms_dir)
    for path in twin.site_broker.dynsec_file.parent.iterdir():
        path.unlink()

    # Restore (steps 5 and 6): the LMS's data onto a fresh directory, the passwords from the technician's copy.
    done = _lms_cli(twin, "restore", str(archive))
    assert done.returncode == EXIT_OK, done.stderr
    write_atomic(twin.lms_dir / "broker-password", twin.passwords["lms"] + "\n")
    write_atomic(twin.lms_dir / "dynsec-password", twin.passwords["dynsec-admin"] + "\n")
    target = twin.site_broker.dynsec_file
    shutil.copyfile(dynsec_copy, target)
    owner = target.parent.stat()
    os.chown(target, owner.st_uid, owner.st_gid)
    target.chmod(0o600)

    # Start (step 7): the broker with its restored TLS files and credentials, then the LMS.
    twin.site_broker.start()
    twin.start_lms()
    # Presence is remembered from the database; a command there and back proves the broker takes them again.
    _answer_commands(twin)
    twin.wait_cloud_sees_agents()
    assert twin.lms_ca_file.read_bytes() == ca_before  # the CA the agents pinned (their TLS to the broker)
    for agent_id in AGENTS:
        path = twin.workdir / "agents" / agent_id / "state" / "credentials.json"
        assert path.read_bytes() == credentials[agent_id]  # not enrolled again


def _mark_schema(db: Path, version: int, lms_version: str) -> None:
    conn = sqlite3.connect(db)
    try:
        conn.execute("UPDATE lms_config SET value = ? WHERE key = 'lms_version'", (lms_version,))
        conn.execute(f"PRAGMA user_version={version}")
        conn.commit()
    finally:
        conn.close()


def test_this_lms_over_the_database_of_a_newer_one_exits_3_and_changes_nothing(twin: Twin) -> None:
    assert twin.lms is not None
    twin.lms.stop()
    db = twin.lms_dir / "lms.db"
    _mark_schema(db, SCHEMA_VERSION + 1, "99.0.0")  # as a newer LMS leaves it
    before = _tree(twin.lms_dir)
    refused = _lms_cli(twin)
    assert refused.returncode == EXIT_SCHEMA, refused.stderr
    assert f"schema version {SCHEMA_VERSION + 1}, written by LMS 99.0.0" in refused.stderr
    assert f"knows schema versions up to {SCHEMA_VERSION}" in refused.stderr
    assert _tree(twin.lms_dir) == before

    _mark_schema(db, SCHEMA_VERSION, "0.1.0")  # (the newer LMS's data rolled back: this one takes it again)
    twin.start_lms()
    _answer_commands(twin)


def _answer_commands(twin: Twin) -> None:
    """Every agent answers a command through the LMS (retried while they reconnect)."""
    ping = {"command": "ping", "params": {}}
    wait_for("the agents to answer a command", lambda: all(
        twin.lms_api(f"/api/clients/{a}/command", twin.lms_token, body=ping, timeout=10).get("success") for a in AGENTS
    ), 90)  # fmt: skip
