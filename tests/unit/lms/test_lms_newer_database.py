"""Going back a version is refused, touching nothing: a database written by a newer LMS (its schema version above
what this code knows) stops ``python -m edge.lms`` — running, ``token``, ``tls``, ``backup`` — with exit 3 and a
message naming both versions and what to do, before any file of the data directory is created or changed.
(The way forward, an old database migrated with every row kept, is tests/unit/lms/test_lms_schema.py and
tests/integration/lms/test_lms_upgrade.py.)"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from edge.lms import __version__
from edge.lms.__main__ import main
from edge.lms.cli import EXIT_SCHEMA
from edge.lms.config import load_config
from edge.lms.lms_parts import StartupError
from edge.lms.process import Lms
from edge.lms.schema import SCHEMA_VERSION
from edge.lms.store import SchemaTooNew, Store, check_schema


def _data_dir_state(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}  # fmt: skip


@pytest.fixture
def newer_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data directory whose database a newer LMS (schema SCHEMA_VERSION + 1) wrote and closed."""
    monkeypatch.setenv("CLASSTOP_LMS_BROKER_PASSWORD", "pw")
    data = tmp_path / "data"
    with Store(data / "lms.db") as store:
        store.set_config("lms_version", "9.9.9")
        store.conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    (data / "lms.toml").write_text('tenant = "acme"\nsite_id = "site-1"\ndb_path = "lms.db"\n')
    return data


@pytest.mark.parametrize("action", [[], ["token", "list"], ["tls"], ["backup", "out.tar.gz"]],
                         ids=["run", "token", "tls", "backup"])  # fmt: skip
def test_a_database_of_a_newer_lms_is_refused_with_both_versions_and_nothing_touched(
    newer_site: Path, action: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    before = _data_dir_state(newer_site)
    assert main(["--config", str(newer_site / "lms.toml"), *action]) == EXIT_SCHEMA
    err = capsys.readouterr().err
    assert f"schema version {SCHEMA_VERSION + 1}, written by LMS 9.9.9" in err
    assert f"this LMS {__version__} knows schema versions up to {SCHEMA_VERSION}" in err
    assert "Nothing was changed" in err
    assert _data_dir_state(newer_site) == before  # no -wal/-shm, no site-ca/, no lock, no log, no archive


def test_the_lms_process_itself_refuses_it_first(newer_site: Path) -> None:
    before = _data_dir_state(newer_site)
    lms = Lms(load_config(newer_site / "lms.toml"))
    with pytest.raises(StartupError, match=f"schema version {SCHEMA_VERSION + 1}"):
        lms.start()
    lms.stop()
    assert _data_dir_state(newer_site) == before
    with pytest.raises(SchemaTooNew):
        Store(newer_site / "lms.db").open()
    assert _data_dir_state(newer_site) == before


def test_a_second_lms_on_the_same_database_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLASSTOP_LMS_BROKER_PASSWORD", "pw")
    (tmp_path / "lms.toml").write_text('tenant = "acme"\nsite_id = "site-1"\ndb_path = "lms.db"\n')
    config = load_config(tmp_path / "lms.toml")
    first = Lms(config)
    first.start_database_lock()
    try:
        second = Lms(config)
        with pytest.raises(StartupError, match=r"in use: LMS .* \(pid \d+\) holds"):
            second.start_database_lock()
    finally:
        first.stop()
    again = Lms(config)  # released by the first one's stop
    again.start_database_lock()
    again.stop()


def test_the_version_is_read_from_the_wal_when_a_newer_lms_did_not_close_cleanly(tmp_path: Path) -> None:
    with Store(tmp_path / "lms.db") as newer:
        newer.conn.execute("PRAGMA wal_autocheckpoint=0")
        newer.conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")  # only in the -wal file so far
        assert (tmp_path / "lms.db-wal").stat().st_size > 0
        with pytest.raises(SchemaTooNew, match=f"schema version {SCHEMA_VERSION + 1}"):
            check_schema(tmp_path / "lms.db", SCHEMA_VERSION, version="0.1.0")
