"""The site's agents as the LMS knows them: who exists and who is online (``Registry``, over ``AgentRows``), their
metrics history (``MetricsHistory``), their tags and groups (``Groups``)."""

from __future__ import annotations

from edge.lms.agents.agent_rows import AgentRow, AgentRows
from edge.lms.agents.agent_view import AgentView
from edge.lms.agents.groups import LABEL_PATTERN, MAX_GROUP_MEMBERS, MAX_TAGS_PER_AGENT, GroupError, Groups
from edge.lms.agents.metrics_history import MAX_QUERY_LIMIT, MetricsHistory, metric_buckets
from edge.lms.agents.registry import Registry

__all__ = [
    "LABEL_PATTERN",
    "MAX_GROUP_MEMBERS",
    "MAX_QUERY_LIMIT",
    "MAX_TAGS_PER_AGENT",
    "AgentRow",
    "AgentRows",
    "AgentView",
    "GroupError",
    "Groups",
    "MetricsHistory",
    "Registry",
    "metric_buckets",
]
