"""The LMS's parts (:class:`LmsParts`: what :class:`~edge.lms.process.Lms` starts, each ``None`` until its step
made it), how a new configuration reaches them live (:meth:`LmsParts.apply_config`), and the error a start step
raises when retrying will not help (:class:`StartupError`)."""

from __future__ import annotations

import logging

import uvicorn

from edge.lms.agents import MetricsHistory, Registry
from edge.lms.agents.retirement import AgentRetirement
from edge.lms.alerts import Alerting
from edge.lms.api import Services
from edge.lms.auth import Accounts, Tokens
from edge.lms.cloud import AppliedCloudConfig, CloudSide
from edge.lms.commands import CommandLog, CommandQueue, Router
from edge.lms.config import LmsConfig
from edge.lms.enrolment import BrokerCredentials, Enrolments
from edge.lms.events import AgentEvents
from edge.lms.legacy import Admissions, LegacyHub, Timetables
from edge.lms.live import ChangeFeed
from edge.lms.log_file import LmsLogFile
from edge.lms.store import Store
from edge.lms.tls import LiveTls
from shared.lifecycle import Lifecycle
from shared.mqtt import MqttClient


class StartupError(Exception):
    """A start step failed in a way that retrying will not fix (the message says what to do)."""


class LmsParts:
    """The LMS's parts, made by its start steps (``site_steps.py``, ``service_steps.py``)."""

    def __init__(self, config: LmsConfig) -> None:
        self.config = config
        #: the configuration file as loaded (``config`` is it, with the cloud's settings laid over it when any)
        self.local_config = config
        self.applied_cloud_config: AppliedCloudConfig | None = None
        self.services: Services | None = None
        self.lifecycle = Lifecycle()
        self.stop_event = self.lifecycle.stop_event
        self.store: Store | None = None
        self.journal: CommandLog | None = None
        self.site: MqttClient | None = None
        self.registry: Registry | None = None
        self.router: Router | None = None
        self.cloud: CloudSide | None = None
        self.http: uvicorn.Server | None = None
        self.tokens: Tokens | None = None
        self.accounts: Accounts | None = None
        self.changes: ChangeFeed | None = None
        self.history: MetricsHistory | None = None
        self.queue: CommandQueue | None = None
        self.retirement: AgentRetirement | None = None
        self.enrolments: Enrolments | None = None
        self.legacy: LegacyHub | None = None
        self.admissions: Admissions | None = None
        self.timetables: Timetables | None = None
        self.events: AgentEvents | None = None
        self.tls: LiveTls | None = None
        self.broker_credentials: BrokerCredentials | None = None
        self.log_file: LmsLogFile | None = None
        self.alerting: Alerting | None = None

    def apply_config(self, cfg: LmsConfig) -> None:
        """Put a new effective configuration in force without a restart: its cloud-settable settings
        (edge.lms.config.cloud_config) reach the running parts; the local-only ones are the file's and unchanged."""
        self.config = cfg
        logging.getLogger().setLevel(cfg.log_level)
        if self.registry is not None:
            self.registry.presence_timeout_s = cfg.presence_timeout_s
        if self.router is not None:
            self.router.default_timeout_s = cfg.command_timeout_s
            self.router.exec_policy = cfg.exec_policy
        if self.history is not None:
            self.history.retention_s = cfg.metrics_retention_days * 86400.0
            self.history.prune_interval_s = cfg.metrics_prune_interval_s
        if self.admissions is not None:
            self.admissions.settings = cfg.classtop
        if self.legacy is not None:
            self.legacy.apply_settings(cfg.classtop)
        if self.services is not None:
            self.services.config = cfg
            self.services.commands.default_ttl_s = cfg.queue_default_ttl_s
        if self.cloud is not None:
            self.cloud.reconfigure(cfg)
