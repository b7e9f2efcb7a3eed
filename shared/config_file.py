"""Reading a process's TOML configuration and its secrets: the one way the agent and the LMS do it.

* :func:`read_toml`: the file as a dict, or a :class:`ConfigFileError` that says what is wrong with it (missing,
  unreadable, not UTF-8, not TOML).
* :func:`resolve_path`: a path given in the file is relative to the file's directory.
* :func:`resolve_secret`: a secret comes from, in order, an environment variable, a file (its first line,
  surrounding white space stripped), or the configuration itself (discouraged); naming both a file and a value in
  the configuration is an error. A file that cannot be read or is empty is an error too.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any


class ConfigFileError(ValueError):
    """The configuration file or a secret it points to cannot be used; the message says why."""


def read_toml(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigFileError(f"cannot read config file {path}: no such file") from None
    except OSError as exc:
        raise ConfigFileError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigFileError(f"config file {path} is not valid UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigFileError(f"config file {path} is not valid TOML: {exc}") from None


def resolve_path(base: Path, path: Path | str | None) -> Path | None:
    """``path`` (``~`` expanded) relative to ``base`` unless absolute; ``None`` stays ``None``."""
    if path is None:
        return None
    resolved = Path(path).expanduser()
    return resolved if resolved.is_absolute() else base / resolved


def read_secret_file(path: Path | str, what: str) -> str:
    """The first line of the file ``what`` names, stripped; :class:`ConfigFileError` if unreadable or empty."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigFileError(f"{what} {str(path)!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigFileError(f"{what} {str(path)!r}: not valid UTF-8") from None
    lines = text.strip().splitlines()
    if not lines or not lines[0].strip():
        raise ConfigFileError(f"{what} {str(path)!r} is empty")
    return lines[0].strip()


def resolve_secret(
    env: Mapping[str, str], env_name: str, file: Path | str | None, value: str | None, *, what: str
) -> str | None:
    """The secret: ``env[env_name]``, else the first line of ``file``, else ``value``, else ``None``.
    ``what`` names the file setting in messages (e.g. ``site_broker.password_file``)."""
    if file is not None and value is not None:
        setting = what.rsplit("_file", 1)[0]
        raise ConfigFileError(f"give {setting} or {what}, not both")
    if env.get(env_name):
        return env[env_name]
    if file is not None:
        return read_secret_file(file, what)
    return value


class Secret:
    """A secret string kept out of logs and dumps, as pydantic's ``SecretStr`` (which the pydantic configs use);
    the pydantic-free configs (the agent's msgspec mirrors) hold this one."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __len__(self) -> int:
        return len(self._value)

    def __str__(self) -> str:
        return "**********" if self._value else ""

    def __repr__(self) -> str:
        return f"Secret('{self}')"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)
