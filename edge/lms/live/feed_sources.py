"""What feeds the change feed: the registry's presence, metrics and events, the agents' command progress, the
command log's results and the site's alert changes. Each hook only encodes and appends (:meth:`ChangeFeed.publish`):
never blocking. The frequent ones (presence, metrics, events, command results) hand over a function that makes the
change's data, so that nothing is converted while no console page listens."""

from __future__ import annotations

from edge.lms.agents import Registry
from edge.lms.agents.agent_view import AgentView
from edge.lms.alerts import Alerting
from edge.lms.commands import CommandLog
from edge.lms.commands.command_log import CommandLogEntry
from edge.lms.commands.progress import CommandProgress, Progress
from edge.lms.live.change_feed import ChangeFeed, ChangeKind
from shared.messages import Event, Metrics
from shared.messages.alert import AlertRecord

#: camera health events (``cctv.frozen``, ``cctv.no_frames_cleared``...) are pushed as their own kind
CAMERA_EVENT_PREFIX = "cctv."


def connect_feed(
    feed: ChangeFeed, registry: Registry, journal: CommandLog, progress: CommandProgress | None = None
) -> None:
    def presence(view: AgentView) -> None:
        feed.publish(ChangeKind.PRESENCE, lambda: {"agent": view.to_dict()}, view.agent_id)

    def metrics(agent_id: str, sample: Metrics) -> None:
        feed.publish(ChangeKind.METRICS, lambda: {"sample": sample.model_dump(mode="json", exclude_none=True)},
                     agent_id)  # fmt: skip

    def event(agent_id: str, item: Event) -> None:
        kind = ChangeKind.CAMERA if item.kind.startswith(CAMERA_EVENT_PREFIX) else ChangeKind.EVENT
        feed.publish(kind, lambda: {"event": item.model_dump(mode="json", exclude_none=True)}, agent_id)

    def running(step: Progress) -> None:
        feed.publish(ChangeKind.COMMAND, step.to_dict(), step.agent_id)

    def ended(entry: CommandLogEntry) -> None:
        feed.publish(ChangeKind.COMMAND, lambda: {
            "request_id": entry.request_id, "agent_id": entry.agent_id, "command": entry.command,
            "status": entry.status, "success": entry.success, "error_code": entry.error_code,
            "duration_ms": entry.duration_ms, "source": entry.source,
        }, entry.agent_id)  # fmt: skip

    registry.add_listener(presence)
    registry.add_metrics_listener(metrics)
    registry.add_event_listener(event)
    journal.add_listener(ended)
    if progress is not None:
        progress.add_listener(running)


def connect_alerts(feed: ChangeFeed, alerting: Alerting) -> None:
    """Every alert change (fired, updated, acknowledged, resolved) as an ``alert`` change: the console's banner and
    alerts page read it at once instead of at their next poll."""

    def alert(record: AlertRecord) -> None:
        feed.publish(ChangeKind.ALERT, lambda: {"alert": record.model_dump(mode="json", exclude_none=True)},
                     record.target.agent_id)

    alerting.add_listener(alert)
