"""The LMS's configuration file (TOML), validated with pydantic (:class:`LmsConfig` and its sections), read by
:func:`load_config`."""

from __future__ import annotations

from edge.lms.config.broker_settings import DYNSEC_PASSWORD_ENV, PASSWORD_ENV, DynsecSettings, SiteBrokerSettings
from edge.lms.config.classtop_settings import ClassTopSettings
from edge.lms.config.cloud_config import CloudConfigError, cloud_settable_values, with_cloud_config
from edge.lms.config.cloud_settings import CloudLinkSettings, CloudTlsSettings
from edge.lms.config.lms_config import LmsConfig
from edge.lms.config.loader import ConfigError, load_config, load_layout, parse_config
from edge.lms.config.log_file_settings import LogFileSettings
from edge.lms.config.tls_settings import PlainHttpSettings, SiteTlsSettings

__all__ = [
    "DYNSEC_PASSWORD_ENV",
    "PASSWORD_ENV",
    "ClassTopSettings",
    "CloudConfigError",
    "CloudLinkSettings",
    "CloudTlsSettings",
    "ConfigError",
    "DynsecSettings",
    "LmsConfig",
    "LogFileSettings",
    "PlainHttpSettings",
    "SiteBrokerSettings",
    "SiteTlsSettings",
    "cloud_settable_values",
    "load_config",
    "load_layout",
    "parse_config",
    "with_cloud_config",
]
