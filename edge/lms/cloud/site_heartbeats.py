"""Site heartbeats to the cloud: the site's agents and their presence.

* A **full** heartbeat (every agent) right after the cloud link connects, after a new configuration, and then every
  ``site_heartbeat_s`` (300 s by default: the full list is for reconciliation, and for the cloud to notice an LMS that
  hangs with its link up; a cut link shows at once from IoT Core's lifecycle events);
* a **changed-only** heartbeat (``full=false``) shortly after agents come or go, debounced so that a class
  of PCs booting together makes one message.

Every heartbeat states the full period in force (``full_period_s``): the cloud judges the site's silence by it
(docs/architecture.md#presence).

Heartbeats are not queued while the link is down: the next full one after reconnecting says it all.
A list too big for one IoT Core message is split; the parts are sent with ``full=false`` (an upsert of those
agents) so that no part can be mistaken for the whole site.

The cloud takes a site's word about an agent (a snapshot, a command result) only for agents it knows at that
site, and it learns them from heartbeats. :attr:`SiteHeartbeats.announced` is set once the first full heartbeat
of this process has been accepted by the broker (every part PUBACKed); the outbox waits for it
(:class:`AnnouncedLink`), so that what an LMS kept while it had no cloud — agents enrolled site-only, their
snapshots — does not reach the cloud before the agents themselves and get refused.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

from edge.lms.agents import AgentView, Registry
from edge.lms.cloud.link import CloudLink
from shared import topics
from shared.messages import MAX_PAYLOAD_BYTES, AgentKind, AgentPresence, SiteHeartbeat, encode
from shared.names import Namespace
from shared.topics import SiteUp
from shared.worker_thread import WorkerThread

log = logging.getLogger(__name__)

DEBOUNCE_S = 0.5
#: Leave room under IoT Core's 128 KB limit.
MAX_HEARTBEAT_BYTES = MAX_PAYLOAD_BYTES - 4096


def presence_of(view: AgentView) -> AgentPresence:
    try:
        kind = AgentKind(view.kind)
    except ValueError:
        kind = AgentKind.AGENT
    return AgentPresence(
        agent_id=view.agent_id, status=view.status, kind=kind, last_seen=view.last_seen,
        hostname=view.hostname, version=view.version, config_version=view.config_version,
    )


def build_heartbeats(agents: list[AgentPresence], *, full: bool, lms_version: str,
                     lms_config_version: str | None = None, expiring: list[str] | None = None,
                     period_s: float | None = None) -> list[bytes]:
    """Encode one heartbeat, or several ``full=false`` parts when one would exceed the message limit.
    ``period_s``: the full heartbeat period in force, stated in each."""
    now = time.time()
    payload = encode(SiteHeartbeat(timestamp=now, lms_version=lms_version, lms_config_version=lms_config_version,
                                   full=full, agents=agents, certificates_expiring=expiring,
                                   full_period_s=period_s))  # fmt: skip
    if len(payload) <= MAX_HEARTBEAT_BYTES or len(agents) <= 1:
        return [payload]
    half = len(agents) // 2
    return [
        part for agents_part in (agents[:half], agents[half:])
        for part in build_heartbeats(agents_part, full=False, lms_version=lms_version,
                                     lms_config_version=lms_config_version, expiring=expiring, period_s=period_s)
    ]  # fmt: skip


class SiteHeartbeats:
    """:meth:`start` after wiring :meth:`on_connected` and :meth:`on_presence` to the link and registry."""

    def __init__(
        self, link: CloudLink, registry: Registry, *, namespace: Namespace, site_id: str, period_s: float,
        lms_version: str, config_version: Callable[[], str] | None = None,
    ) -> None:
        self._link = link
        self._config_version = config_version  # the LMS's configuration version now (docs/protocol.md#versions)
        #: the site's certificates about to lapse (edge.lms.tls.CertificateWatch.expiring), set once it runs
        self.certificates_expiring: Callable[[], list[str]] | None = None
        self._registry = registry
        self._topic = topics.site_up(namespace, site_id, SiteUp.HEARTBEAT)
        self._period_s = period_s
        self._version = lms_version
        self._lock = threading.Lock()
        self._changed: dict[str, AgentView] = {}
        self._full_due = True
        self._wake = threading.Event()
        self._worker = WorkerThread("lms-site-heartbeat", self._run, wake=self._wake.set, join_timeout_s=5.0)
        self._stop = self._worker.stopping
        self.sent = 0
        #: set once a full heartbeat was accepted (see the module docstring); never cleared
        self.announced = threading.Event()
        #: called once, when :attr:`announced` is set (the outbox's wake)
        self.on_announced: Callable[[], None] = lambda: None

    def on_connected(self) -> None:
        """Cloud link listener: a full heartbeat right away."""
        with self._lock:
            self._full_due = True
        self._wake.set()

    def on_presence(self, view: AgentView) -> None:
        """Registry listener: remember the change; a changed-only heartbeat follows shortly."""
        with self._lock:
            self._changed[view.agent_id] = view
        self._wake.set()

    def reconfigure(self, period_s: float) -> None:
        """A new configuration is in force: a full heartbeat now (it carries the new configuration version), then
        every ``period_s``."""
        self._period_s = period_s
        with self._lock:
            self._full_due = True
        self._wake.set()

    def start(self) -> None:
        self._worker.start()

    def stop(self) -> None:
        self._worker.stop()

    def _run(self) -> None:
        next_full = time.monotonic()
        while not self._stop.is_set():
            self._wake.wait(max(0.0, next_full - time.monotonic()))
            self._wake.clear()
            if self._stop.is_set():
                return
            if not self._link.connected:
                next_full = time.monotonic() + self._period_s
                continue
            with self._lock:
                full = self._full_due or time.monotonic() >= next_full
                changed = bool(self._changed)
            if not full and changed and self._stop.wait(DEBOUNCE_S):  # let a burst of changes settle
                return
            with self._lock:
                views = list(self._changed.values())
                self._changed.clear()
                self._full_due = False
            if full:
                self._send([presence_of(v) for v in self._registry.agents()], full=True)
                next_full = time.monotonic() + self._period_s
            elif views:
                self._send([presence_of(v) for v in views], full=False)

    def _send(self, agents: list[AgentPresence], *, full: bool) -> None:
        config_version = self._config_version() if self._config_version is not None else None
        expiring = self.certificates_expiring() if self.certificates_expiring is not None else None
        payloads = build_heartbeats(agents, full=full, lms_version=self._version, lms_config_version=config_version,
                                    expiring=expiring, period_s=self._period_s)  # fmt: skip
        futures = [self._link.publish(self._topic, payload, 1) for payload in payloads]
        for future in futures:
            future.add_done_callback(self._log_failure)
        if full and not self.announced.is_set():
            left = [len(futures)]
            lock = threading.Lock()

            def accepted(future: Future[None]) -> None:
                if future.exception() is not None:
                    return  # the next full heartbeat tries again
                with lock:
                    left[0] -= 1
                    done = left[0] == 0 and not self.announced.is_set()
                    if done:
                        self.announced.set()
                if done:
                    self.on_announced()

            for future in futures:
                future.add_done_callback(accepted)
        self.sent += 1

    @staticmethod
    def _log_failure(future: Future[None]) -> None:
        exc = future.exception()
        if exc is not None:
            log.info("site heartbeat not delivered: %s", exc)


class AnnouncedLink:
    """The cloud link as the outbox sees it: connected only once the site's agents were announced
    (:attr:`SiteHeartbeats.announced`)."""

    def __init__(self, link: CloudLink, beats: SiteHeartbeats) -> None:
        self._link = link
        self._beats = beats

    @property
    def connected(self) -> bool:
        return self._link.connected and self._beats.announced.is_set()

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> Future[None]:
        return self._link.publish(topic, payload, qos)
