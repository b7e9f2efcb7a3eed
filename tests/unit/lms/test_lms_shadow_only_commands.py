"""``cctv_apply_config`` leaves the LMS only when its shadow relay sends it (source ``shadow``): the router refuses
it from every other source — the cloud's commands, batches, the offline queue, the API — before anything is sent."""

from __future__ import annotations

from pathlib import Path

from edge.lms.agents import Registry
from edge.lms.commands import CommandLog, Router
from edge.lms.commands.router import SHADOW_SOURCE
from edge.lms.store import Store
from shared.errors import ErrorCode
from shared.messages import Presence, Status, encode
from shared.mqtt import IncomingMessage, MqttClient, MqttSettings

PARAMS = {"rev": 1, "cameras": [{"camera_id": "door", "source": "/etc/passwd"}]}


def test_only_the_shadow_relay_sends_cctv_apply_config(tmp_path: Path) -> None:
    store = Store(tmp_path / "lms.db").open()
    registry = Registry(store, presence_timeout_s=30)
    status = Status(state=Presence.ONLINE, timestamp=1.0, reason="start")
    registry.handle(IncomingMessage("ct/agent/pc-1/up/status", encode(status), 1, True))
    journal = CommandLog(store).start()
    mqtt = MqttClient(MqttSettings(host="127.0.0.1", port=1, client_id="lms-test"))  # never connected
    router = Router(mqtt, registry, journal, default_timeout_s=5)
    router.start()
    try:
        for source in ("cloud", "api", "batch", "queue"):
            refused = router.dispatch("pc-1", "cctv_apply_config", PARAMS, source=source).future.result(5)
            assert refused.error_code is ErrorCode.FORBIDDEN and "device shadow" in (refused.error or ""), source
        relayed = router.dispatch("pc-1", "cctv_apply_config", PARAMS, 0.2, source=SHADOW_SOURCE).future.result(30)
        assert relayed.error_code is not ErrorCode.FORBIDDEN  # past the check (no broker here: it cannot be sent)
        assert router.stats.rejected == 4
    finally:
        router.stop()
        journal.stop()
        store.close()
