"""The LMS's database schema: one ordered list of numbered migrations, each made of the features' own steps.

Each feature declares its tables next to the queries that use them (the ``*_V<n>`` constants named below);
this list says in which schema version each step came. :class:`edge.lms.store.Store` applies the versions a
database lacks, in order, each in one transaction, and records the version in ``PRAGMA user_version``. A new table
or column is a new :class:`~edge.lms.store.Migration` at the end; a step already released never changes.
"""

from __future__ import annotations

from edge.lms.agents.agent_rows import AGENT_TABLES_V1
from edge.lms.agents.groups import TAG_AND_GROUP_TABLES_V2
from edge.lms.agents.metrics_history import METRICS_ROLLUP_COLUMNS_V16, METRICS_TABLE_V2
from edge.lms.agents.retired_rows import RETIRED_AGENTS_TABLE_V12
from edge.lms.alerts.alert_rows import ALERT_TABLES_V14
from edge.lms.auth.accounts import ACCOUNT_TABLES_V15
from edge.lms.auth.audit_log import AUDIT_LOG_TABLE_V2
from edge.lms.auth.tokens import API_TOKEN_TABLE_V2
from edge.lms.cctv.cctv_log import CCTV_LOG_INDEX_V4, CCTV_LOG_TABLE_V1
from edge.lms.cloud.outbox_rows import OUTBOX_DEAD_TABLE_V7, OUTBOX_TABLE_V1
from edge.lms.cloud.snapshot_sync import SNAPSHOT_STATE_TABLE_V5
from edge.lms.commands.cloud_command_ids import CLOUD_COMMAND_TABLE_V6
from edge.lms.commands.cloud_requests import CLOUD_REQUEST_TABLE_V13
from edge.lms.commands.command_log import COMMAND_LOG_TABLE_V1
from edge.lms.commands.queue_rows import COMMAND_QUEUE_CLOUD_V10, COMMAND_QUEUE_TABLE_V2
from edge.lms.enrolment.enrolment_rows import ENROLMENT_TABLES_V9
from edge.lms.events.event_log import EVENTS_TABLE_V4
from edge.lms.legacy.admission_rows import ADMISSIONS_TABLE_V8
from edge.lms.legacy.timetable import TIMETABLE_TABLES_V3
from edge.lms.store import Migration
from edge.lms.store.database import LMS_CONFIG_TABLE, check_migrations
from edge.lms.upgrades.campaigns import UPGRADE_TABLES_V11

MIGRATIONS: tuple[Migration, ...] = tuple(
    check_migrations(
        [
            Migration(
                1,
                "the seed's tables and the cloud outbox",
                (LMS_CONFIG_TABLE, *AGENT_TABLES_V1, *COMMAND_LOG_TABLE_V1, *CCTV_LOG_TABLE_V1, *OUTBOX_TABLE_V1),
            ),
            Migration(
                2,
                "API tokens, audit log, metrics history, tags and groups, offline command queue",
                (
                    *API_TOKEN_TABLE_V2,
                    *AUDIT_LOG_TABLE_V2,
                    *METRICS_TABLE_V2,
                    *TAG_AND_GROUP_TABLES_V2,
                    *COMMAND_QUEUE_TABLE_V2,
                ),
            ),
            Migration(3, "ClassTop timetables", TIMETABLE_TABLES_V3),
            Migration(4, "agent events", (*EVENTS_TABLE_V4, *CCTV_LOG_INDEX_V4)),
            Migration(5, "agent snapshots sent to the cloud", SNAPSHOT_STATE_TABLE_V5),
            Migration(6, "cloud command ids already handled", CLOUD_COMMAND_TABLE_V6),
            Migration(7, "the outbox's dead-letter", OUTBOX_DEAD_TABLE_V7),
            Migration(8, "ClassTop client admissions", ADMISSIONS_TABLE_V8),
            Migration(9, "agent enrolment tokens and enrolments", ENROLMENT_TABLES_V9),
            Migration(10, "the cloud's command id of queued commands", COMMAND_QUEUE_CLOUD_V10),
            Migration(11, "agent upgrade campaigns", UPGRADE_TABLES_V11),
            Migration(12, "the archive of retired agents", RETIRED_AGENTS_TABLE_V12),
            Migration(13, "the cloud's commands in flight, per agent", CLOUD_REQUEST_TABLE_V13),
            Migration(
                14,
                "alerts: site rules, alerts and their history, silences, maintenance, webhook deliveries",
                ALERT_TABLES_V14,
            ),
            Migration(15, "the console's accounts and sessions", ACCOUNT_TABLES_V15),
            Migration(16, "disk and network figures of the metrics history (rolled up)", METRICS_ROLLUP_COLUMNS_V16),
        ]
    )
)
SCHEMA_VERSION = MIGRATIONS[-1].version
