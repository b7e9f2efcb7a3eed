"""``GET /metrics``: fleet and LMS self-metrics in the Prometheus text format (0.0.4).

Access: open without a token to scrapers on the LMS's own host (a loopback client address, e.g. a
Prometheus or node-exporter textfile job on the mini-PC); from anywhere else a viewer token is required.
"""

from __future__ import annotations

from typing import Any

import psutil
from fastapi import APIRouter, Depends
from fastapi.responses import PlainTextResponse

from edge.lms.api.authentication import viewer_or_loopback
from edge.lms.api.services import Services, ServicesDep

router = APIRouter(tags=["metrics"], dependencies=[Depends(viewer_or_loopback)])

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_process = psutil.Process()


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def metric(self, name: str, kind: str, help_text: str, samples: list[tuple[dict[str, str], float]]) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
            self.lines.append(f"{name}{{{text}}} {float(value)!r}" if text else f"{name} {float(value)!r}")

    def counters(self, prefix: str, stats: object, names: tuple[tuple[str, str], ...]) -> None:
        """One ``<prefix>_<name>_total`` counter per ``(name, help)``, read from ``stats.<name>``."""
        for name, help_text in names:
            self.metric(f"{prefix}_{name}_total", "counter", help_text, [({}, float(getattr(stats, name)))])

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def render(services: Services) -> str:
    w = _Writer()
    agents = services.registry.agents()
    online = sum(1 for a in agents if a.online)
    w.metric("classtop_agents", "gauge", "Agents known to the LMS, by presence.",
             [({"status": "online"}, online), ({"status": "offline"}, len(agents) - online)])  # fmt: skip
    w.metric("classtop_agent_up", "gauge", "1 when the agent is online.",
             [({"agent": a.agent_id}, 1.0 if a.online else 0.0) for a in agents])  # fmt: skip
    latest: list[tuple[str, Any]] = [(a.agent_id, services.registry.latest_metrics(a.agent_id)) for a in agents]
    samples = [(agent_id, m) for agent_id, m in latest if m is not None]
    w.metric("classtop_agent_cpu_percent", "gauge", "The agent's latest CPU use (percent).",
             [({"agent": a}, m.cpu_percent) for a, m in samples])  # fmt: skip
    w.metric("classtop_agent_memory_percent", "gauge", "The agent's latest memory use (percent).",
             [({"agent": a}, m.mem_percent) for a, m in samples])  # fmt: skip
    w.metric("classtop_agent_memory_used_bytes", "gauge", "The agent's latest memory use (bytes).",
             [({"agent": a}, float(m.mem_used)) for a, m in samples])  # fmt: skip
    w.counters("classtop_lms_commands", services.router.stats, (
        ("sent", "Commands published to agents."),
        ("answered", "Commands the agent answered."),
        ("timed_out", "Commands the LMS ended for lack of an answer."),
        ("rejected", "Commands refused before sending (unknown/offline agent, bad params)."),
    ))  # fmt: skip
    w.metric("classtop_lms_commands_pending", "gauge", "Commands waiting for an answer.",
             [({}, float(services.router.pending_count))])  # fmt: skip
    w.metric("classtop_lms_queue_depth", "gauge", "Commands queued for offline agents.",
             [({}, float(services.queue.depth()))])  # fmt: skip
    cloud = services.cloud
    if cloud is not None:
        w.metric("classtop_lms_outbox_depth", "gauge", "Messages waiting to be sent to the cloud.",
                 [({}, float(cloud.outbox_pending()))])  # fmt: skip
        w.metric("classtop_lms_outbox_dead", "gauge", "Messages the cloud refused for good (the dead-letter).",
                 [({}, float(cloud.outbox_dead()))])  # fmt: skip
        w.metric("classtop_lms_cloud_connected", "gauge", "1 when the cloud link is up.",
                 [({}, 1.0 if cloud.connected else 0.0)])  # fmt: skip
    w.metric("classtop_lms_site_broker_connected", "gauge", "1 when connected to the site broker.",
             [({}, 1.0 if services.site_mqtt.connected else 0.0)])  # fmt: skip
    w.counters("classtop_lms_mqtt", services.site_mqtt.stats, (
        ("received", "MQTT messages received from the site broker."),
        ("published", "MQTT messages published to the site broker."),
        ("dropped", "MQTT messages dropped (queue full or not connected)."),
        ("connects", "Connections made to the site broker."),
    ))  # fmt: skip
    w.metric("classtop_lms_metrics_samples_written_total", "counter", "Agent metrics samples stored.",
             [({}, float(services.history.written))])  # fmt: skip
    w.metric("classtop_lms_live_streams", "gauge", "Console pages listening to the push channel (/api/live).",
             [({}, float(services.changes.subscribers))])  # fmt: skip
    w.metric("classtop_lms_live_changes_total", "counter", "Changes published to the push channel.",
             [({}, float(services.changes.published))])  # fmt: skip
    with _process.oneshot():
        cpu = _process.cpu_times()
        rss = _process.memory_info().rss
        started = _process.create_time()
    w.metric("process_cpu_seconds_total", "counter", "LMS process CPU time (user + system).",
             [({}, cpu.user + cpu.system)])  # fmt: skip
    w.metric("process_resident_memory_bytes", "gauge", "LMS process resident memory.", [({}, float(rss))])
    w.metric("process_start_time_seconds", "gauge", "LMS process start time (epoch seconds).", [({}, started)])
    return w.text()


#: a viewer token, or none from loopback (the empty requirement: optional)
@router.get("/metrics", response_class=PlainTextResponse, responses={200: {"content": {CONTENT_TYPE: {}}}},
            openapi_extra={"security": [{}]})
async def metrics(services: ServicesDep) -> PlainTextResponse:
    return PlainTextResponse(render(services), media_type=CONTENT_TYPE)
