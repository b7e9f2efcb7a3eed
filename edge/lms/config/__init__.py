"""The LMS's configuration file (TOML), validated with pydantic."""

from __future__ import annotations

from edge.lms.config.lms_config import (
    DYNSEC_PASSWORD_ENV,
    PASSWORD_ENV,
    ClassTopSettings,
    CloudLinkSettings,
    ConfigError,
    LmsConfig,
    load_config,
    parse_config,
)

__all__ = [
    "DYNSEC_PASSWORD_ENV",
    "PASSWORD_ENV",
    "ClassTopSettings",
    "CloudLinkSettings",
    "ConfigError",
    "LmsConfig",
    "load_config",
    "parse_config",
]
