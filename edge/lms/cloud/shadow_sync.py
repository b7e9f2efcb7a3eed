"""Agents' desired settings from their device shadows: applied to the agents, reported back.

Each agent's settings are the named shadow of the site's IoT thing named after the agent
(:mod:`shared.messages.shadow`). The LMS subscribes to all named shadows of its thing and:

* on ``update/delta`` (:class:`SettingsDelta`) and on ``get/accepted`` (:class:`SettingsShadow`, its
  ``state.delta`` if any) sends the changed keys to the agent as one ``update_settings_batch`` through the
  router (source ``shadow``) — only if the agent is known and online: an offline agent gets its delta from
  the catch-up ``get`` below when it comes back;
* when the agent accepted them, writes ``state.reported`` with exactly those keys through the durable
  outbox (in order, survives a cloud outage). A batch the agent refused for good (invalid, unknown, not
  supported) is logged and counted; the delta stays in the shadow and is applied at the next catch-up. A batch
  that timed out or failed otherwise (a request lost while the agent was resubscribing after a site broker
  restart: agents use clean sessions) is retried like a rejected request below: a catch-up ``get`` that applies
  the shadow's delta of then (the newest desired state, never the batch that failed), unless a newer batch
  went to the agent meanwhile (its answer decides); a report the outbox cannot store (a full disk) is
  logged and the shadow asked for again after :data:`REPORT_RETRY_S` (applied and reported again);
* catches up with ``get`` (an empty request ``{}``): for every online agent when the cloud link
  (re)connects, and for an agent when it comes online. Gets are published directly on the link (worthless
  later, so never through the outbox; skipped while disconnected) and spread out at :data:`GET_RATE_PER_S`,
  under the Device Shadow service's 20 requests per second per thing (every agent's shadows are the site
  thing's: beyond it IoT Core answers 429), leaving room for the reports, so that a reconnect with 2,000 agents
  does not burst.

* on ``update/rejected`` or ``get/rejected`` (AWS's ``{"code", "message"}``): a throttled or failed request
  (429, 5xx) is asked again with a catch-up ``get`` (which re-applies and re-reports what is still pending) after
  :data:`RETRY_FIRST_S`, then twice as long each time, at
  most :data:`MAX_RETRIES` times in a row per agent; any other refusal (400, 413...: the document can never be
  taken) is logged as a warning and counted; ``get/rejected`` 404 means no shadow yet: nothing desired.
  The count in a row ends when the agent took a batch, a new delta comes, a ``get`` finds nothing to apply, or a
  natural catch-up (the link reconnects, the agent comes online) starts again from zero: an agent gone for days
  costs :data:`MAX_RETRIES` gets, then nothing until it is back.

The same worker serves each agent's camera configuration, the ``cctv:{agent_id}`` shadow
(:mod:`edge.lms.cloud.camera_shadows`): a catch-up asks for both shadows of an agent, and the retries and
rejections below apply to each shadow on its own.

Everything runs on one worker thread: the link's handler (awscrt thread), the presence and connection
listeners and the router's completion callbacks only enqueue. Bad documents are logged, counted and
dropped; other shadow operations (``update/accepted``, ``update/documents``, the LMS's own requests echoed by
the broker) are ignored.
"""

from __future__ import annotations

import functools
import logging
import queue
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Protocol

from edge.lms.agents import AgentView, Registry
from edge.lms.cloud.camera_shadows import FINAL_FAILURES, CameraDone, CameraShadows
from edge.lms.cloud.outbox import Outbox
from edge.lms.commands import Router
from shared import topics
from shared.errors import ErrorCode, SharedError, TopicError
from shared.messages import Presence, Response
from shared.messages.shadow import SettingsDelta, SettingsShadow, ShadowRejection, reported_update
from shared.names import Namespace
from shared.topics import Family, ShadowOp
from shared.worker_thread import WorkerThread

log = logging.getLogger(__name__)

#: Catch-up ``get`` requests published per second at most: the Device Shadow service takes 20 requests per second
#: per thing (all of the site's shadows together; AWS IoT Core quotas), and the reports need some of them.
GET_RATE_PER_S = 10.0
#: The ``get`` request: AWS accepts an empty document (a ``clientToken`` would only be echoed back).
GET_REQUEST = b"{}"
#: Catch-up gets after transient rejections (429, 5xx) of one agent's shadow, or failed applies of its settings or
#: cameras (timeout, busy), in a row, before waiting for the next natural catch-up (a reconnect, the agent coming
#: back, a new delta).
MAX_RETRIES = 5
#: The first of those gets waits this long, each next one twice as long (a throttled thing needs time, not haste).
RETRY_FIRST_S = 0.5
#: an applied delta whose report the outbox could not store (its disk full) is asked for again this soon (and
#: again, for as long as the outbox refuses: the shadow still holds the delta)
REPORT_RETRY_S = 2.0
_REJECTED = (ShadowOp.UPDATE_REJECTED, ShadowOp.GET_REJECTED)


class ShadowLink(Protocol):
    """What the shadow sync needs from the cloud link."""

    @property
    def connected(self) -> bool: ...

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> Future[None]: ...


@dataclass
class ShadowStats:
    deltas: int = 0  # deltas received (update/delta, or get/accepted with a delta)
    applied: int = 0  # update_settings_batch accepted by the agent
    reported: int = 0  # reported updates queued on the outbox
    failed: int = 0  # update_settings_batch refused / timed out / agent unreachable
    bad_documents: int = 0
    gets: int = 0  # catch-up get requests published
    skipped_offline: int = 0  # deltas for agents that are offline (applied when they come back)
    rejected: int = 0  # update/get requests IoT Core refused (404 "no shadow yet" not counted)
    retried: int = 0  # catch-up gets asked after a transient refusal


@dataclass(frozen=True, slots=True)
class _Incoming:
    topic: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class _Online:
    agent_id: str


@dataclass(frozen=True, slots=True)
class _Done:
    agent_id: str
    settings: dict[str, str]
    response: Response


#: The documents that carry settings to apply, and how to read their delta (AWS-owned; extra fields ignored).
_DELTA_READERS: dict[ShadowOp, Callable[[bytes], dict[str, str]]] = {
    ShadowOp.UPDATE_DELTA: lambda payload: SettingsDelta.model_validate_json(payload).state,
    ShadowOp.GET_ACCEPTED: lambda payload: SettingsShadow.model_validate_json(payload).state.delta or {},
}

_CONNECTED = object()
_STOP = object()


class ShadowSync:
    """:meth:`handle` is the link's handler for ``shadow_filter(thing)``; :meth:`on_connected` its
    connected listener; :meth:`on_presence` the registry's presence listener. :meth:`start`, :meth:`stop`."""

    def __init__(
        self, link: ShadowLink, router: Router, registry: Registry, outbox: Outbox, *, namespace: Namespace,
        site_id: str,
        get_rate_per_s: float = GET_RATE_PER_S,
    ) -> None:  # fmt: skip
        self._link = link
        self._router = router
        self._registry = registry
        self._outbox = outbox
        self.thing = topics.site_thing_name(namespace, site_id)
        self.topic_filter = topics.shadow_filter(self.thing)
        self._get_interval = 1.0 / get_rate_per_s if get_rate_per_s > 0 else 0.0
        self._queue: queue.Queue[object] = queue.Queue()
        self._gets: OrderedDict[str, None] = OrderedDict()  # shadows waiting for a catch-up get (in order)
        self._next_get = 0.0  # monotonic time of the next allowed get
        self._inflight: dict[str, dict[str, str]] = {}  # agent -> the settings being applied now
        self._retries: dict[str, int] = {}  # shadow name -> transient rejections in a row
        self._later: dict[str, float] = {}  # shadow name -> monotonic time of its retry get
        self._worker = WorkerThread("lms-shadows", self._run, wake=lambda: self._queue.put(_STOP))
        self.stats = ShadowStats()
        self.cameras = CameraShadows(router, registry, outbox, thing=self.thing, post=self._queue.put)

    # ------------------------------------------------------------ lifecycle

    def start(self) -> ShadowSync:
        self._worker.start()
        return self

    def stop(self) -> None:
        self._worker.stop()

    # ------------------------------------------------------------ inputs (any thread: only enqueue)

    def handle(self, topic: str, payload: bytes) -> None:
        """Cloud link handler (awscrt thread)."""
        self._queue.put(_Incoming(topic, payload))

    def on_connected(self) -> None:
        """Cloud link connected listener (awscrt thread)."""
        self._queue.put(_CONNECTED)

    def on_presence(self, view: AgentView) -> None:
        """Registry presence listener."""
        if view.online:
            self._queue.put(_Online(view.agent_id))

    def _on_done(self, agent_id: str, settings: dict[str, str], request_id: str, fut: Future[Response]) -> None:
        """Router completion callback (any thread)."""
        cancelled = fut.cancelled()
        response = Response.fail(request_id, ErrorCode.INTERNAL, "cancelled") if cancelled else fut.result()
        self._queue.put(_Done(agent_id, settings, response))

    # ------------------------------------------------------------ worker

    def _run(self) -> None:
        while True:
            timeout = self._wait_s()
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = None
            if item is _STOP:
                return
            try:
                if isinstance(item, _Incoming):
                    self._on_message(item)
                elif isinstance(item, _Done):
                    self._on_result(item)
                elif isinstance(item, CameraDone):
                    name = topics.cctv_shadow_name(item.agent_id)
                    if self.cameras.on_done(item):
                        self._retry(name, item.agent_id, "apply")
                    else:
                        self._retries.pop(name, None)
                elif isinstance(item, _Online):
                    self._catch_up(item.agent_id)
                elif item is _CONNECTED:
                    for view in self._registry.agents(online_only=True):
                        self._catch_up(view.agent_id)
                self._send_gets()
            except Exception:
                log.exception("shadows: unexpected error")

    def _catch_up(self, agent_id: str) -> None:
        """Ask for both shadows of the agent, their retries counted from zero again."""
        for name in (topics.agent_shadow_name(agent_id), topics.cctv_shadow_name(agent_id)):
            self._gets[name] = None
            self._retries.pop(name, None)

    def _wait_s(self) -> float | None:
        """How long the worker may sleep: until the next get the rate allows, or the next retry is due."""
        now = time.monotonic()
        waits = [self._next_get - now] if self._gets else []
        if self._later:
            waits.append(min(self._later.values()) - now)
        return max(0.0, min(waits)) if waits else None

    def _send_gets(self) -> None:
        """Publish the waiting catch-up gets the rate allows; forget them while the link is down (a
        reconnect asks again for every online agent)."""
        now = time.monotonic()
        for name, due in list(self._later.items()):
            if due <= now:
                del self._later[name]
                self._gets[name] = None
        if not self._gets:
            return
        if not self._link.connected:
            self._gets.clear()
            self._later.clear()
            return
        while self._gets and now >= self._next_get:
            shadow_name, _ = self._gets.popitem(last=False)
            topic = topics.shadow(self.thing, ShadowOp.GET, shadow_name)
            self._link.publish(topic, GET_REQUEST).add_done_callback(functools.partial(self._get_sent, shadow_name))
            self.stats.gets += 1
            self._next_get = max(self._next_get, now) + self._get_interval

    @staticmethod
    def _get_sent(shadow_name: str, fut: Future[None]) -> None:
        exc = fut.exception()
        if exc is not None:
            log.debug("shadows: get of %s not sent: %s", shadow_name, exc)

    # ------------------------------------------------------------ documents

    def _agent_of(self, topic: str) -> tuple[str, str, ShadowOp] | None:
        """(agent id, shadow name, operation) of a settings or camera shadow's topic of this site's thing."""
        try:
            parsed = topics.parse(topic)
        except TopicError:
            log.debug("shadows: ignored %s", topic)
            return None
        if parsed.family is not Family.SHADOW or parsed.thing != self.thing or parsed.op is None:
            return None
        name = parsed.shadow_name
        agent_id = topics.agent_of_shadow(name) or self.cameras.agent_of(name)
        if agent_id is None or name is None:
            log.debug("shadows: ignored shadow %r", name)
            return None
        return agent_id, name, parsed.op

    def _on_message(self, item: _Incoming) -> None:
        found = self._agent_of(item.topic)
        if found is None:
            return
        agent_id, name, op = found
        if op in _REJECTED:
            self._on_rejected(item, agent_id, name, op)
            return
        if topics.is_cctv_shadow(name):  # its retries end with the agent's answer (CameraDone)
            try:
                self.cameras.on_document(agent_id, op, item.payload)
            except ValueError as exc:
                self._bad(item, exc)
            return
        read = _DELTA_READERS.get(op)
        if read is None:
            if op is ShadowOp.UPDATE_ACCEPTED:
                self._retries.pop(name, None)
            log.debug("shadows: ignored %s", item.topic)
            return
        try:
            delta = read(item.payload)
        except ValueError as exc:
            self._bad(item, exc)
            return
        if op is ShadowOp.UPDATE_DELTA or not delta:  # a new desired state, or nothing left to apply
            self._retries.pop(name, None)  # (else the apply's answer ends or continues the count)
        if delta:
            self.stats.deltas += 1
            self.apply(agent_id, delta)

    def _on_rejected(self, item: _Incoming, agent_id: str, name: str, op: ShadowOp) -> None:
        try:
            rejection = ShadowRejection.model_validate_json(item.payload)
        except ValueError as exc:
            self._bad(item, exc)
            return
        if op is ShadowOp.GET_REJECTED and rejection.code == 404:
            return  # no shadow yet: nothing desired
        self.stats.rejected += 1
        what = "update" if op is ShadowOp.UPDATE_REJECTED else "get"
        if not rejection.transient:
            log.warning("shadows: IoT Core refused the %s of %s for good: %d %s", what, _label(agent_id, name),
                        rejection.code, rejection.message[:300])
            return
        self._retry(name, agent_id, f"{what} ({rejection.code} {rejection.message[:300]})")

    def _retry(self, name: str, agent_id: str, what: str) -> None:
        """Ask for shadow ``name`` again after a failure that may pass, at most :data:`MAX_RETRIES` times in a row."""
        tries = self._retries.get(name, 0) + 1
        if tries > MAX_RETRIES:
            log.warning("shadows: the %s of %s keeps failing; waiting for the next catch-up", what,
                        _label(agent_id, name))
            self._retries.pop(name, None)
            return
        self._retries[name] = tries
        self.stats.retried += 1
        delay = RETRY_FIRST_S * 2 ** (tries - 1)
        log.info("shadows: the %s of %s failed; asking again in %.1f s", what, _label(agent_id, name), delay)
        self._later[name] = time.monotonic() + delay

    def _bad(self, item: _Incoming, exc: Exception) -> None:
        self.stats.bad_documents += 1
        log.warning("shadows: dropped bad document on %s: %s", item.topic, str(exc).replace("\n", " ")[:500])

    # ------------------------------------------------------------ applying and reporting

    def apply(self, agent_id: str, delta: dict[str, str]) -> None:
        """Send ``delta`` to the agent if it is online (worker thread)."""
        presence = self._registry.presence(agent_id)
        if presence is None:
            log.info("shadows: delta for unknown agent %s dropped", agent_id)
            return
        if presence is not Presence.ONLINE:
            self.stats.skipped_offline += 1
            log.debug("shadows: %s is offline; its delta waits for it", agent_id)
            return
        if self._inflight.get(agent_id) == delta:
            log.debug("shadows: the same delta for %s is being applied already", agent_id)
            return
        settings = dict(delta)
        self._inflight[agent_id] = settings
        log.info("shadows: applying %s to %s", sorted(settings), agent_id)
        ticket = self._router.dispatch(agent_id, "update_settings_batch", {"settings": settings}, source="shadow")
        ticket.future.add_done_callback(functools.partial(self._on_done, agent_id, settings, ticket.request_id))

    def _on_result(self, done: _Done) -> None:
        newest = self._inflight.get(done.agent_id) is done.settings
        if newest:
            del self._inflight[done.agent_id]
        response = done.response
        name = topics.agent_shadow_name(done.agent_id)
        if not response.success:
            self.stats.failed += 1
            log.warning("shadows: %s did not take %s: %s (%s)", done.agent_id, sorted(done.settings),
                        response.error, response.error_code)  # fmt: skip
            # a refusal for good waits for the next catch-up; a superseded batch, for the newer one's answer
            if newest and response.error_code not in FINAL_FAILURES:
                self._retry(name, done.agent_id, "apply")
            return
        self._retries.pop(name, None)
        self.stats.applied += 1
        topic = topics.shadow(self.thing, ShadowOp.UPDATE, name)
        try:
            reported: dict[str, str | None] = dict(done.settings)
            self._outbox.put(topic, reported_update(reported))
        except (ValueError, SharedError) as exc:
            log.error("shadows: cannot report %s of %s: %s", sorted(done.settings), done.agent_id, exc)
            return
        except Exception as exc:  # the outbox's disk full: the delta stays in the shadow; ask for it again
            log.error("shadows: could not queue the reported settings of %s (%s): asked for again in %g s",
                      done.agent_id, exc, REPORT_RETRY_S)  # fmt: skip
            self._later[name] = time.monotonic() + REPORT_RETRY_S
            return
        self.stats.reported += 1


def _label(agent_id: str, shadow_name: str) -> str:
    return f"{agent_id}'s camera shadow" if topics.is_cctv_shadow(shadow_name) else f"{agent_id}'s shadow"
