"""``GET /api/health``: no auth; 200 with ``{"success": true, "data": {...}}`` (what ClassTop clients expect)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter

from edge.lms.api.services import ServicesDep

router = APIRouter(tags=["health"])


@router.get("/api/health")
async def health(services: ServicesDep) -> dict[str, Any]:
    total, online = services.registry.counts()
    cloud = services.cloud
    cloud_info: dict[str, Any] | None = None
    if cloud is not None:
        cloud_info = {
            "connected": cloud.connected,
            "outbox_pending": cloud.outbox_pending(),
            "outbox_dead": cloud.outbox_dead(),
        }
        config_version = cloud.config_version()
        if config_version:
            cloud_info["config_version"] = config_version
    certificates = services.certificates.status() if services.certificates is not None else []
    site_connected = services.site_mqtt.connected
    store = services.store.write_health()  # a full disk: writes refused (edge/lms/store/database.py)
    healthy = site_connected and (cloud is None or cloud.connected) and store.writable
    return {
        "success": True,
        "data": {
            "status": "ok" if healthy else "degraded",
            "timestamp": time.time(),
            "version": services.version,
            "tenant": services.config.tenant,
            "stage": services.config.stage,
            "site_id": services.config.site_id,
            "uptime_s": round(time.time() - services.started_at, 3),
            "site_broker": {"connected": site_connected},
            "store": store.as_dict(),
            "cloud": cloud_info,
            "agents": {"total": total, "online": online},
            "commands_pending": services.router.pending_count,
            # each certificate the site depends on; "expiring" names those within site_tls.warn_before_days
            "certificates": {
                "items": [c.as_dict() for c in certificates],
                "expiring": [c.name for c in certificates if c.warning],
            },
        },
    }
