"""``tls_cert_file`` / ``tls_key_file``: both or neither, resolved next to the config file, must exist."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.lms.config import PASSWORD_ENV, ConfigError, load_config

BASE = 'tenant = "demo"\nsite_id = "school-1"\n'
ENV = {PASSWORD_ENV: "s3cret"}


def config(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "lms.toml"
    path.write_text(BASE + extra + "\n[site_broker]\nport = 1883\n", encoding="utf-8")
    return path


def test_https_files_are_resolved_next_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "tls").mkdir()
    (tmp_path / "tls" / "lms.crt").write_text("x")
    (tmp_path / "tls" / "lms.key").write_text("x")
    cfg = load_config(config(tmp_path, 'tls_cert_file = "tls/lms.crt"\ntls_key_file = "tls/lms.key"\n'), env=ENV)
    assert cfg.tls_cert_file == tmp_path / "tls" / "lms.crt" and cfg.tls_key_file == tmp_path / "tls" / "lms.key"
    assert load_config(config(tmp_path, ""), env=ENV).tls_cert_file is None


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('tls_cert_file = "lms.crt"\n', "go together"),
        ('tls_key_file = "lms.key"\n', "go together"),
        ('tls_cert_file = "missing.crt"\ntls_key_file = "missing.key"\n', "tls_cert_file: no such file"),
    ],
)
def test_https_config_errors_are_clear(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(config(tmp_path, extra), env=ENV)
