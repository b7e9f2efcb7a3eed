"""``backup`` / ``restore`` (edge.lms.backup) on real files: one archive with a manifest, restored onto a fresh
data directory with every row and file; and each refusal leaves the target exactly as it was: a tampered
archive, path traversal, a backup from a newer LMS, a running LMS, existing data without ``--force``, another
site, a running broker."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import socket
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.lms.__main__ import main
from edge.lms.backup import BackupError, make_backup, read_manifest, restore_backup
from edge.lms.cli import EXIT_SCHEMA
from edge.lms.config import load_config
from edge.lms.schema import SCHEMA_VERSION
from edge.lms.store import DatabaseLock, Store
from edge.lms.tls import SiteTls
from edge.lms.upgrades.packages import PackageStore, packages_dir
from shared.agent_packages import sha256_of, verify
from tests.fixtures.agent_packages import ReleaseKey, tiny_package

CONFIG = """tenant = "acme"
site_id = "site-1"
db_path = "lms.db"
[site_broker]
host = "127.0.0.1"
port = {port}
[site_broker.dynsec]
state_file = "../broker/dynamic-security.json"
"""


def _state(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}  # fmt: skip


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A site: lms.toml, a database with an enrolled agent, the site CA, certs/, the broker's dynsec file."""
    monkeypatch.setenv("CLASSTOP_LMS_BROKER_PASSWORD", "pw")
    monkeypatch.setenv("CLASSTOP_LMS_DYNSEC_PASSWORD", "pw")
    root = tmp_path / "old"
    data = root / "data"
    data.mkdir(parents=True)
    (data / "lms.toml").write_text(CONFIG.format(port=_closed_port()))
    cfg = load_config(data / "lms.toml")
    SiteTls(cfg).ensure()
    with Store(cfg.db_path) as store, store.transaction() as conn:
        conn.execute("INSERT INTO enrollments (agent_id, hostname, enrolled_at, rotated_at) VALUES ('pc-1', 'h', 1, 1)")
        conn.execute("INSERT INTO clients (uuid, name, first_seen, last_seen) VALUES ('pc-1', 'room 1', 1, 1)")
    (data / "certs").mkdir()
    (data / "certs" / "api-key").write_text("key-123")
    (root / "broker").mkdir()
    (root / "broker" / "dynamic-security.json").write_text(json.dumps({"clients": [{"username": "pc-1"}]}))
    yield data


def _backup(site: Path, archive: Path) -> Path:
    make_backup(site / "lms.toml", load_config(site / "lms.toml"), archive)
    return archive


def test_a_backup_restored_onto_a_fresh_data_directory_has_everything(site: Path, tmp_path: Path) -> None:
    archive = _backup(site, tmp_path / "b.tar.gz")
    assert archive.stat().st_mode & 0o777 == 0o600
    manifest = read_manifest(archive)
    assert (manifest.schema_version, manifest.site_id, manifest.broker_state) == (SCHEMA_VERSION, "site-1", "included")
    assert {"lms.db", "lms.toml", "site-ca/ca.key", "site-ca/ca.crt", "broker-tls/broker.key", "certs/api-key",
            "broker/dynamic-security.json"} <= set(manifest.members)  # fmt: skip
    fresh = tmp_path / "new" / "data"
    restored = restore_backup(fresh / "lms.toml", archive)
    assert restored.dynsec_elsewhere is None
    old, new = _state(site.parent), _state(fresh.parent)
    for name in ("data/lms.toml", "data/site-ca/ca.key", "data/site-ca/ca.crt", "data/site-ca/broker/broker.crt",
                 "data/certs/api-key", "broker/dynamic-security.json"):  # fmt: skip
        assert new[name] == old[name], name
    assert (fresh / "site-ca" / "ca.key").stat().st_mode & 0o777 == 0o600
    with Store(fresh / "lms.db") as store:
        assert store.query("SELECT uuid, name FROM clients") == [("pc-1", "room 1")]
        assert store.query("SELECT agent_id FROM enrollments") == [("pc-1",)]


def test_the_cache_of_agent_packages_is_backed_up_and_served_again_after_a_restore(site: Path, tmp_path: Path) -> None:
    """A site without internet cannot fetch its agent packages again: they travel in the backup, and the restored
    LMS's cache lists and serves the same package, which still verifies against the release key."""
    release = ReleaseKey()
    data = tiny_package("1.2.3")
    PackageStore(packages_dir(site / "lms.db"), release.public).add("1.2.3", data, sha256_of(data),
                                                                      release.sign("1.2.3", data))
    archive = _backup(site, tmp_path / "b.tar.gz")
    assert {"agent-packages/1.2.3.tar.gz", "agent-packages/1.2.3.json"} <= set(read_manifest(archive).members)
    fresh = tmp_path / "new" / "data"
    restore_backup(fresh / "lms.toml", archive)
    restored = PackageStore(packages_dir(fresh / "lms.db"), release.public)
    [info] = restored.list()
    assert (info.version, info.sha256) == ("1.2.3", sha256_of(data))
    assert restored.archive("1.2.3").read_bytes() == data
    verify(restored.public_key, "1.2.3", data, info.sha256, info.signature)  # raises on a mismatch


def test_backup_through_the_command_line_while_the_lms_holds_its_lock(
    site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with DatabaseLock(site / "lms.db").acquire("LMS test"), Store(site / "lms.db"):  # online: a running LMS
        assert main(["--config", str(site / "lms.toml"), "backup", str(tmp_path / "b.tar.gz")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "b.tar.gz")
    assert main(["--config", str(site / "lms.toml"), "backup", str(tmp_path / "b.tar.gz")]) == 1
    assert "exists" in capsys.readouterr().err


def test_a_dynsec_file_missing_an_enrolled_agent_is_not_a_consistent_backup(site: Path, tmp_path: Path) -> None:
    (site.parent / "broker" / "dynamic-security.json").write_text(json.dumps({"clients": []}))
    with pytest.raises(BackupError, match="lacks the clients of enrolled agents pc-1"):
        _backup(site, tmp_path / "b.tar.gz")
    assert not (tmp_path / "b.tar.gz").exists()


def _rewrite(archive: Path, out: Path, change: dict[str, bytes | None], *, manifest_too: bool = False) -> Path:
    """A copy of ``archive`` with members changed (bytes) or added; ``manifest_too``: their checksums updated."""
    with tarfile.open(archive) as tar:
        items = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]  # type: ignore[union-attr]
    with tarfile.open(out, "w:gz") as tar:
        for info, data in items:
            data = change.pop(info.name, data) or data
            if info.name == "manifest.json" and manifest_too:
                doc = json.loads(data)
                for name, new in change.items():
                    doc["members"][name] = {"sha256": hashlib.sha256(new or b"").hexdigest(), "size": len(new or b""),
                                            "mode": 0o600}  # fmt: skip
                data = json.dumps(doc).encode()
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, data in change.items():
            info = tarfile.TarInfo(name)
            info.size = len(data or b"")
            tar.addfile(info, io.BytesIO(data or b""))
    return out


def _refused(target: Path, archive: Path, match: str, **kwargs: bool) -> None:
    before = _state(target.parent) if target.parent.exists() else {}
    with pytest.raises(BackupError, match=match):
        restore_backup(target / "lms.toml", archive, **kwargs)
    assert (_state(target.parent) if target.parent.exists() else {}) == before


def test_a_tampered_archive_is_refused_and_nothing_is_written(site: Path, tmp_path: Path) -> None:
    archive = _backup(site, tmp_path / "b.tar.gz")
    tampered = _rewrite(archive, tmp_path / "t.tar.gz", {"certs/api-key": b"evil"})
    _refused(tmp_path / "new" / "data", tampered, "does not match its checksum")


@pytest.mark.parametrize("name", ["../../escape", "/etc/evil", "site-ca/../../x", "certs/./a"])
def test_path_traversal_in_member_names_is_refused(site: Path, tmp_path: Path, name: str) -> None:
    archive = _backup(site, tmp_path / "b.tar.gz")
    evil = _rewrite(archive, tmp_path / "t.tar.gz", {name: b"x"}, manifest_too=True)
    _refused(tmp_path / "new" / "data", evil, "path traversal")
    assert not (tmp_path / "escape").exists()


def test_an_unlisted_member_is_refused(site: Path, tmp_path: Path) -> None:
    archive = _backup(site, tmp_path / "b.tar.gz")
    _refused(tmp_path / "new" / "data", _rewrite(archive, tmp_path / "t.tar.gz", {"certs/extra": b"x"}),
             "not in the manifest")  # fmt: skip


def test_a_backup_from_a_newer_lms_is_refused(site: Path, tmp_path: Path) -> None:
    archive = _backup(site, tmp_path / "b.tar.gz")
    with tarfile.open(archive) as tar:
        doc = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    doc.update(schema_version=SCHEMA_VERSION + 1, lms_version="9.9.9")
    newer = _rewrite(archive, tmp_path / "n.tar.gz", {"manifest.json": json.dumps(doc).encode()})
    _refused(tmp_path / "new" / "data", newer,
             rf"LMS 9\.9\.9 with schema version {SCHEMA_VERSION + 1}.*up to {SCHEMA_VERSION}")  # fmt: skip
    fresh = tmp_path / "new" / "data"
    assert main(["--config", str(fresh / "lms.toml"), "restore", str(newer)]) == EXIT_SCHEMA
    assert not fresh.exists()


def test_a_restore_onto_a_running_lms_is_refused(site: Path, tmp_path: Path) -> None:
    archive = _backup(site, tmp_path / "b.tar.gz")
    with DatabaseLock(site / "lms.db").acquire("LMS 1.0"):
        _refused(site, archive, r"LMS 1\.0 \(pid \d+\) holds .*stop the LMS first", force=True)


def test_existing_data_is_kept_unless_force(site: Path, tmp_path: Path) -> None:
    archive = _backup(site, tmp_path / "b.tar.gz")
    with Store(site / "lms.db") as store, store.transaction() as conn:
        conn.execute("INSERT INTO clients (uuid, name, first_seen, last_seen) VALUES ('pc-2', 'after', 1, 1)")
    _refused(site, archive, "data is already there.*--force")
    restore_backup(site / "lms.toml", archive, force=True)
    with Store(site / "lms.db") as store:
        assert store.query("SELECT uuid FROM clients") == [("pc-1",)]
        assert store.query("PRAGMA integrity_check") == [("ok",)]


def test_a_backup_of_another_site_is_refused(site: Path, tmp_path: Path) -> None:
    archive = _backup(site, tmp_path / "b.tar.gz")
    other = tmp_path / "other" / "data"
    other.mkdir(parents=True)
    (other / "lms.toml").write_text((site / "lms.toml").read_text().replace("site-1", "site-2"))
    _refused(other, archive, "backup is of site site-1.*site-2")


def test_the_broker_state_is_not_replaced_under_a_running_broker(site: Path, tmp_path: Path) -> None:
    archive = _backup(site, tmp_path / "b.tar.gz")
    fresh = tmp_path / "new" / "data"
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        fresh.mkdir(parents=True)
        text = (site / "lms.toml").read_text()
        port = text.split("port = ")[1].split()[0]
        (fresh / "lms.toml").write_text(text.replace(f"port = {port}", f"port = {listening.getsockname()[1]}"))
        _refused(fresh, archive, "site broker answers")
    shutil.rmtree(fresh)
