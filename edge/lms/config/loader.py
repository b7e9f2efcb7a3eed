"""Reading the LMS's configuration file: TOML, validated (:class:`~edge.lms.config.lms_config.LmsConfig`), relative
paths resolved against the file's directory, the passwords added from the environment or their files (env > file >
value, :mod:`shared.config_file`), and the files it names checked."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationError

from edge.lms.config.broker_settings import DYNSEC_PASSWORD_ENV, PASSWORD_ENV, DynsecSettings
from edge.lms.config.lms_config import LmsConfig
from shared.config_file import ConfigFileError, read_toml, resolve_path, resolve_secret
from shared.messages import describe_validation_error
from shared.mqtt import TlsSettings


class ConfigError(Exception):
    """The configuration file is missing, unreadable, not TOML, or invalid. The message says why."""


def _resolve_paths(cfg: LmsConfig, base: Path) -> LmsConfig:
    db_path = resolve_path(base, cfg.db_path)
    assert db_path is not None
    update: dict[str, Any] = {
        "db_path": db_path, "tls_cert_file": resolve_path(base, cfg.tls_cert_file),
        "tls_key_file": resolve_path(base, cfg.tls_key_file),
    }  # fmt: skip
    site_tls = cfg.site_tls
    tls_dir = resolve_path(base, site_tls.dir) or db_path.parent / "site-ca"
    update["site_tls"] = site_tls.model_copy(
        update={"dir": tls_dir, "broker_dir": resolve_path(base, site_tls.broker_dir) or tls_dir / "broker"}
    )
    broker = cfg.site_broker
    if broker.tls is not None:
        broker = broker.model_copy(update={"tls": _resolved_tls(broker.tls, base)})
    if broker.password_file is not None:
        broker = broker.model_copy(update={"password_file": resolve_path(base, broker.password_file)})
    if broker.dynsec is not None and broker.dynsec.password_file is not None:
        dynsec = broker.dynsec.model_copy(update={"password_file": resolve_path(base, broker.dynsec.password_file)})
        broker = broker.model_copy(update={"dynsec": dynsec})
    if broker.dynsec is not None and broker.dynsec.state_file is not None:
        dynsec = broker.dynsec.model_copy(update={"state_file": resolve_path(base, broker.dynsec.state_file)})
        broker = broker.model_copy(update={"dynsec": dynsec})
    update["site_broker"] = broker
    if cfg.cloud is not None and cfg.cloud.tls is not None:
        tls = cfg.cloud.tls
        new_tls = tls.model_copy(
            update={
                "ca_file": resolve_path(base, tls.ca_file),
                "cert_file": resolve_path(base, tls.cert_file),
                "key_file": resolve_path(base, tls.key_file),
            }
        )
        update["cloud"] = cfg.cloud.model_copy(update={"tls": new_tls})
    return cfg.model_copy(update=update)


def _resolved_tls(tls: TlsSettings, base: Path) -> TlsSettings:
    return tls.model_copy(
        update={"ca_file": resolve_path(base, tls.ca_file), "cert_file": resolve_path(base, tls.cert_file),
                "key_file": resolve_path(base, tls.key_file)}
    )  # fmt: skip


def _secret(env: Mapping[str, str], env_name: str, file: Path | None, value: SecretStr | None,
            what: str) -> SecretStr | None:
    inline = value.get_secret_value() if value is not None else None
    try:
        secret = resolve_secret(env, env_name, file, inline, what=what)
    except ConfigFileError as exc:
        raise ConfigError(str(exc)) from None
    return SecretStr(secret) if secret is not None else None


def _apply_password(cfg: LmsConfig, env: Mapping[str, str]) -> LmsConfig:
    broker = cfg.site_broker
    password = _secret(env, PASSWORD_ENV, broker.password_file, broker.password, "site_broker.password_file")
    broker = broker.model_copy(update={"password": password})
    if broker.username is not None and broker.password is None:
        raise ConfigError(
            f"no password for site broker user {broker.username!r}: set {PASSWORD_ENV} or site_broker.password_file"
        )
    if broker.dynsec is not None:
        broker = broker.model_copy(update={"dynsec": _dynsec_password(broker.dynsec, env)})
    return cfg.model_copy(update={"site_broker": broker})


def _dynsec_password(dynsec: DynsecSettings, env: Mapping[str, str]) -> DynsecSettings:
    password = _secret(env, DYNSEC_PASSWORD_ENV, dynsec.password_file, dynsec.password,
                       "site_broker.dynsec.password_file")
    dynsec = dynsec.model_copy(update={"password": password})
    if dynsec.password is None:
        raise ConfigError(
            f"no password for the dynamic-security admin {dynsec.username!r}: set {DYNSEC_PASSWORD_ENV} or "
            "site_broker.dynsec.password_file"
        )
    return dynsec


def _is_file(path: Path) -> bool:
    """``path.is_file()``, ``False`` for a path the system cannot even look up (a name too long: ``OSError``)."""
    try:
        return path.is_file()
    except OSError:
        return False


def _check_files(cfg: LmsConfig) -> None:
    for name, file in (("tls_cert_file", cfg.tls_cert_file), ("tls_key_file", cfg.tls_key_file)):
        if file is not None and not _is_file(file):
            raise ConfigError(f"{name}: no such file {file}")
    if cfg.cloud is None or cfg.cloud.tls is None:
        return
    tls = cfg.cloud.tls
    for name, path in (("ca_file", tls.ca_file), ("cert_file", tls.cert_file), ("key_file", tls.key_file)):
        if path is not None and not _is_file(path):
            raise ConfigError(f"cloud.tls.{name}: no such file {path}")


def load_layout(path: Path, text: str | None = None) -> LmsConfig:
    """The file's settings (or ``text``'s, as if it were the file at ``path``) with their paths resolved, without
    the passwords or the files it names: what ``restore`` needs to know where things go before they exist.
    Raises :class:`ConfigError`."""
    try:
        data = read_toml(path) if text is None else tomllib.loads(text)
        cfg = LmsConfig.model_validate(data)
    except ConfigFileError as exc:
        raise ConfigError(str(exc)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not TOML: {exc}") from None
    except ValidationError as exc:
        raise ConfigError(f"{path}: invalid configuration: {describe_validation_error(exc, limit=10)}") from None
    return _resolve_paths(cfg, path.resolve().parent)


def parse_config(
    data: dict[str, Any], *, base_dir: Path, env: Mapping[str, str] | None = None
) -> LmsConfig:
    """Validate already-parsed TOML data; resolve paths against ``base_dir``; add the broker password."""
    try:
        cfg = LmsConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"invalid configuration: {describe_validation_error(exc, limit=10)}") from None
    cfg = _resolve_paths(cfg, base_dir)
    cfg = _apply_password(cfg, os.environ if env is None else env)
    _check_files(cfg)
    return cfg


def load_config(path: Path, *, env: Mapping[str, str] | None = None) -> LmsConfig:
    """Read and validate the TOML file at ``path``. Raises :class:`ConfigError` with a readable message."""
    try:
        data = read_toml(path)
    except ConfigFileError as exc:
        raise ConfigError(str(exc)) from None
    try:
        return parse_config(data, base_dir=path.resolve().parent, env=env)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
