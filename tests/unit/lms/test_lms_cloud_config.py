"""The LMS's configuration from the cloud (``edge.lms.config.cloud_config``, ``edge.lms.cloud.config_sync``): what
may be set and how it is checked, and the sync's handling of the ``lms:config`` shadow's documents -- applied,
stored for a restart without the cloud, rejected whole with a reason, reported; the local file when nothing is
desired. The link and the outbox are stand-ins that record what the sync publishes and queues."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from edge.lms import named_shadow
from edge.lms.agents import Registry
from edge.lms.cloud import config_sync
from edge.lms.cloud.config_sync import LmsConfigSync, load_applied, startup_config
from edge.lms.commands import CommandLog, Router
from edge.lms.commands.ticket import Ticket
from edge.lms.config import CloudConfigError, LmsConfig, cloud_settable_values, with_cloud_config
from edge.lms.store import Store
from shared import topics
from shared.errors import ErrorCode
from shared.messages import Presence, Status, encode
from shared.messages.lms_config import ClassTopConfigOverlay, LmsConfigOverlay
from shared.mqtt import IncomingMessage, MqttClient, MqttSettings
from shared.names import Namespace
from shared.topics import ShadowOp

NS = Namespace("demo", "dev")
THING = topics.site_thing_name(NS, "s1")
SHADOW = topics.lms_config_shadow_name()
BASE = LmsConfig(tenant="demo", site_id="s1", site_heartbeat_s=30, exec_policy="allow")


def eventually(check: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


# ---------------------------------------------------------------- what may be set


def test_the_shared_schema_names_settings_of_the_file_with_their_types() -> None:
    """The cloud checks with the shared schema; every key there is a setting of lms.toml whose value validates."""
    values = cloud_settable_values(BASE)
    assert set(values) == set(LmsConfigOverlay.model_fields)
    assert set(values["classtop"]) == set(ClassTopConfigOverlay.model_fields)
    LmsConfigOverlay.model_validate(values)  # the file's defaults pass the strict schema
    assert with_cloud_config(BASE, values) == BASE


def test_a_valid_document_is_laid_over_the_file() -> None:
    cfg = with_cloud_config(BASE, {"site_heartbeat_s": 5, "exec_policy": "disabled",
                                   "classtop": {"client_policy": "open", "max_pending": 10}})  # fmt: skip
    assert cfg.site_heartbeat_s == 5 and cfg.exec_policy == "disabled"
    assert cfg.classtop.client_policy == "open" and cfg.classtop.max_pending == 10
    assert cfg.classtop.max_clients == BASE.classtop.max_clients and cfg.http_port == BASE.http_port
    assert with_cloud_config(BASE, {}) == BASE


@pytest.mark.parametrize(("desired", "reason"), [
    ({"site_heartbeat_s": "5"}, "site_heartbeat_s"),
    ({"site_heartbeat_s": True}, "site_heartbeat_s"),
    ({"site_heartbeat_s": 1e308}, "less than or equal"),
    ({"site_heartbeat_s": 0}, "greater than or equal"),
    ({"classtop": {"max_clients": 10**12}}, "classtop.max_clients"),
    ({"classtop": {"frames_per_second": 1}}, "not settable from the cloud"),
    ({"cloud": {"host": "evil.example"}}, "cloud: not settable from the cloud"),
    ({"site_broker": {"host": "evil.example"}}, "site_broker: not settable"),
    ({"db_path": "/tmp/x.db"}, "db_path: not settable"),
    ({"http_port": 80}, "http_port: not settable"),
    ({"log_level": "TRACE"}, "log_level"),
    ({"x" * 9000: 1}, "bytes"),
    (["site_heartbeat_s"], "must be an object"),
])  # fmt: skip
def test_a_bad_document_is_refused_with_a_reason(desired: Any, reason: str) -> None:
    with pytest.raises(CloudConfigError) as caught:
        with_cloud_config(BASE, desired)
    assert reason in str(caught.value)


# ---------------------------------------------------------------- the sync


class Link:
    connected = True

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes]] = []

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> Future[None]:
        self.published.append((topic, payload))
        done: Future[None] = Future()
        done.set_result(None)
        return done


class Outbox:
    def __init__(self) -> None:
        self.items: list[tuple[str, dict[str, Any]]] = []

    def put(self, topic: str, payload: bytes) -> int:
        self.items.append((topic, json.loads(payload)))
        return len(self.items)

    def reports(self) -> list[dict[str, Any]]:
        return [doc["state"]["reported"] for topic, doc in self.items
                if topic == topics.shadow(THING, ShadowOp.UPDATE, SHADOW)]  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "lms.db").open()
    yield store
    store.close()


class Rig:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.link = Link()
        self.outbox = Outbox()
        self.applied: list[LmsConfig] = []
        effective, applied = startup_config(BASE, store)
        self.sync = LmsConfigSync(
            self.link, self.outbox, store, namespace=NS, site_id="s1", local_config=BASE, effective=effective,  # type: ignore[arg-type]
            applied=applied, apply_config=self.applied.append,
        )
        self.sync.start()

    def send(self, op: ShadowOp, document: Any, thing: str = THING, shadow: str = SHADOW) -> None:
        raw = document if isinstance(document, bytes) else json.dumps(document).encode()
        self.sync.handle(topics.shadow(thing, op, shadow), raw)

    def documents(self, desired: dict[str, Any] | None, version: int) -> None:
        self.send(ShadowOp.UPDATE_DOCUMENTS, {"current": {"state": {"desired": desired}, "version": version},
                                              "previous": None, "timestamp": 1})  # fmt: skip

    def report_count(self, n: int) -> list[dict[str, Any]]:
        reports: list[dict[str, Any]] = eventually(lambda: len(self.outbox.reports()) >= n and self.outbox.reports(),
                                                   f"{n} reports")
        return reports


@pytest.fixture
def rig(store: Store) -> Iterator[Rig]:
    rig = Rig(store)
    yield rig
    rig.sync.stop()


def test_applied_live_stored_and_reported(rig: Rig) -> None:
    assert rig.sync.config_version().startswith("local:")
    rig.documents({"site_heartbeat_s": 5, "exec_policy": "disabled"}, 3)
    reported = rig.report_count(1)[0]
    assert [c.site_heartbeat_s for c in rig.applied] == [5] and rig.applied[0].exec_policy == "disabled"
    assert reported["site_heartbeat_s"] == 5 and reported["presence_timeout_s"] == BASE.presence_timeout_s
    assert reported["config_status"]["state"] == "applied" and reported["config_status"]["version"] == 3
    assert reported["config_status"]["config_version"] == "cloud:3" == rig.sync.config_version()

    # our own reported update comes back as update/documents with the same desired part: nothing happens
    rig.documents({"site_heartbeat_s": 5, "exec_policy": "disabled"}, 4)
    # a catch-up get (handled after the echo: one queue) reports again, and only it
    rig.send(ShadowOp.GET_ACCEPTED, {"state": {"desired": {"site_heartbeat_s": 5, "exec_policy": "disabled"}},
                                     "version": 5})  # fmt: skip
    reports = rig.report_count(2)
    assert len(reports) == 2 and reports[1]["config_status"]["config_version"] == "cloud:3"
    loaded = load_applied(rig.store)
    assert loaded is not None and loaded.version == 3

    # restarted without the cloud: the stored configuration is in force
    effective, applied = startup_config(BASE, rig.store)
    assert effective.site_heartbeat_s == 5 and applied is not None and applied.version == 3
    assert len(rig.applied) == 1


def test_an_invalid_document_is_rejected_whole_and_reported(rig: Rig) -> None:
    rig.documents({"site_heartbeat_s": 5}, 3)
    rig.report_count(1)
    rig.documents({"site_heartbeat_s": 7, "presence_timeout_s": 10**9, "cloud": {"host": "evil"}}, 5)
    reported = rig.report_count(2)[1]
    status = reported["config_status"]
    assert status["state"] == "rejected" and status["version"] == 5
    assert "presence_timeout_s" in status["reason"] or "cloud" in status["reason"]
    assert reported["site_heartbeat_s"] == 5  # what is in force: nothing of the rejected document
    assert len(rig.applied) == 1 and startup_config(BASE, rig.store)[0].site_heartbeat_s == 5
    assert rig.sync.config_version() == "cloud:3"


def test_nothing_desired_puts_the_file_back(rig: Rig) -> None:
    rig.documents({"site_heartbeat_s": 5}, 3)
    rig.report_count(1)
    rig.send(ShadowOp.GET_REJECTED, {"code": 404, "message": "No shadow exists with name: 'lms:config'"})
    reported = rig.report_count(2)[1]
    assert reported["config_status"]["state"] == "local" and reported["site_heartbeat_s"] == 30
    assert rig.applied[-1] == BASE
    assert startup_config(BASE, rig.store) == (BASE, None)
    assert rig.sync.config_version().startswith("local:")


def test_connecting_asks_for_the_document_and_reports_it(rig: Rig) -> None:
    rig.sync.on_connected()
    eventually(lambda: rig.link.published, "the get")
    assert rig.link.published == [(topics.shadow(THING, ShadowOp.GET, SHADOW), b"{}")]
    rig.send(ShadowOp.GET_ACCEPTED, {"state": {}, "version": 1})
    assert rig.report_count(1)[0]["config_status"]["state"] == "local"
    assert rig.applied == []  # nothing changed: nothing applied


def test_a_throttled_report_is_asked_again_and_a_bad_one_is_not(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    # IoT Core takes 20 shadow requests a second per thing: a report or get refused 429 (or 5xx) is asked again
    # with a get (which reports again); a 400 is not
    monkeypatch.setattr(named_shadow, "RETRY_FIRST_S", 0.01)
    get = (topics.shadow(THING, ShadowOp.GET, SHADOW), b"{}")
    rig.send(ShadowOp.UPDATE_REJECTED, {"code": 429, "message": "Too Many Requests"})
    eventually(lambda: rig.link.published == [get], "the get asked again")
    rig.send(ShadowOp.GET_REJECTED, {"code": 500, "message": "Internal service failure"})
    eventually(lambda: rig.link.published == [get, get], "the get asked again")
    rig.send(ShadowOp.UPDATE_REJECTED, {"code": 400, "message": "Invalid JSON"})
    rig.send(ShadowOp.GET_ACCEPTED, {"state": {}, "version": 1})
    assert rig.report_count(1)[0]["config_status"]["state"] == "local"
    assert rig.link.published == [get, get] and rig.sync.stats.retried == 2


def test_asking_again_stops_after_max_retries_in_a_row(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(named_shadow, "RETRY_FIRST_S", 0.001)
    for _ in range(config_sync.MAX_RETRIES + 2):
        rig.send(ShadowOp.GET_REJECTED, {"code": 429, "message": "Too Many Requests"})
    eventually(lambda: rig.sync.stats.retried == config_sync.MAX_RETRIES, "the retries")
    eventually(lambda: len(rig.link.published) == config_sync.MAX_RETRIES, "the gets")
    rig.send(ShadowOp.GET_ACCEPTED, {"state": {}, "version": 1})  # an answer: asking again may start over
    rig.send(ShadowOp.GET_REJECTED, {"code": 503, "message": "Service Unavailable"})
    eventually(lambda: rig.sync.stats.retried == config_sync.MAX_RETRIES + 1, "a new retry")


def test_bad_or_foreign_documents_change_nothing(rig: Rig) -> None:
    rig.send(ShadowOp.UPDATE_DOCUMENTS, b"not json")
    rig.send(ShadowOp.UPDATE_DOCUMENTS, b"{" + b" " * 70_000 + b"}")
    rig.send(ShadowOp.GET_ACCEPTED, {"state": {"desired": ["x"]}, "version": 2})
    other = topics.site_thing_name(NS, "s2")
    rig.send(ShadowOp.UPDATE_DOCUMENTS, {"current": {"state": {"desired": {"exec_policy": "allow"}}}}, thing=other)
    rig.send(ShadowOp.UPDATE_DOCUMENTS, {"current": {"state": {"desired": {"exec_policy": "allow"}}}}, shadow="pc-1")
    eventually(lambda: rig.sync.stats.bad_documents == 3, "the bad documents")
    assert rig.applied == [] and rig.outbox.reports() == [] and load_applied(rig.store) is None


# ---------------------------------------------------------------- the exec policy in force


@pytest.mark.parametrize(("policy", "source", "refused"), [
    ("allow", "cloud", False), ("allow", "api", False),
    ("local_only", "cloud", True), ("local_only", "api", False),
    ("disabled", "cloud", True), ("disabled", "api", True),
])  # fmt: skip
def test_the_routers_exec_policy(store: Store, policy: str, source: str, refused: bool) -> None:
    registry = Registry(store, presence_timeout_s=30)
    status = Status(state=Presence.ONLINE, timestamp=1.0, reason="start")
    registry.handle(IncomingMessage("ct/agent/pc-1/up/status", encode(status), 1, True))
    mqtt = MqttClient(MqttSettings(host="127.0.0.1", port=1, client_id="lms-test"))  # never connected
    journal = CommandLog(store).start()
    router = Router(mqtt, registry, journal, default_timeout_s=0.2)
    router.exec_policy = policy
    router.start()
    try:
        response = router.dispatch("pc-1", "exec", {"cmd": "true"}, source=source).result()
    finally:
        router.stop()
        journal.stop()
    assert (response.error_code is ErrorCode.REJECTED_BY_POLICY) is refused, response
    if refused:
        assert policy in (response.error or "")
    ping = Router(mqtt, registry, journal, default_timeout_s=0.2)
    ping.exec_policy = "disabled"
    assert ping._check(Ticket("r1", "pc-1", "ping", {}, 1.0, "cloud")) is None  # only exec is concerned


# ---------------------------------------------------------------- applied live


def test_apply_config_reaches_every_running_part(store: Store, tmp_path: Path) -> None:
    """``Lms.apply_config`` puts each cloud-settable setting into the part that uses it, without a restart."""
    import logging

    from edge.lms.agents import MetricsHistory
    from edge.lms.api import Services
    from edge.lms.legacy import Admissions, LegacyHub
    from edge.lms.legacy.hub import KIND
    from edge.lms.process import Lms

    base = BASE.model_copy(update={"db_path": tmp_path / "lms.db"})
    lms = Lms(base)
    lms.store = store
    lms.registry = Registry(store, presence_timeout_s=base.presence_timeout_s)
    mqtt = MqttClient(MqttSettings(host="127.0.0.1", port=1, client_id="lms-test"))  # never connected
    lms.journal = CommandLog(store)
    lms.router = Router(mqtt, lms.registry, lms.journal, default_timeout_s=base.command_timeout_s)
    lms.history = MetricsHistory(store, retention_days=base.metrics_retention_days)
    lms.admissions = Admissions(store, lms.registry, base.classtop)
    lms.legacy = LegacyHub(lms.registry, lms.router, lms.admissions).attach()
    lms.services = Services(config=base, store=store, registry=lms.registry, router=lms.router, site_mqtt=mqtt,
                            cloud=None, version="test", journal=lms.journal)  # fmt: skip
    level = logging.getLogger().level
    new = with_cloud_config(base, {
        "presence_timeout_s": 120, "command_timeout_s": 9, "metrics_retention_days": 2, "metrics_prune_interval_s": 60,
        "queue_default_ttl_s": 600, "log_level": "ERROR", "exec_policy": "local_only",
        "classtop": {"client_policy": "open", "max_connections": 7},
    })  # fmt: skip
    try:
        lms.apply_config(new)
        assert logging.getLogger().level == logging.ERROR
    finally:
        logging.getLogger().setLevel(level)
    assert lms.config is new and lms.services.config is new
    assert lms.registry.presence_timeout_s == 120 and lms.registry._kind_timeouts[KIND] == 120
    assert lms.router.default_timeout_s == 9 and lms.router.exec_policy == "local_only"
    assert lms.history.retention_s == 2 * 86400 and lms.history.prune_interval_s == 60
    assert lms.services.commands.default_ttl_s == 600
    assert lms.admissions.settings.client_policy == "open" and lms.legacy._settings.max_connections == 7
