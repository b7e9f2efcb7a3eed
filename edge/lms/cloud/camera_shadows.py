"""Agents' cameras set in the cloud, from their ``cctv:`` shadows: applied to the agents, reported back
(docs/cctv.md#camera-configuration-from-the-cloud; the documents: :mod:`shared.messages.camera_shadow`).

The part of :class:`~edge.lms.cloud.shadow_sync.ShadowSync` for the ``cctv:{agent_id}`` shadows; ShadowSync's worker
thread calls everything here (its catch-up ``get``s, retries and rejections serve both kinds of shadow).

* The desired cameras are read **whole**: from ``get/accepted`` (catch-up: the link (re)connects, the agent comes
  online) and from ``update/documents`` when its desired part changed (a camera removed from a list raises a delta
  that does not say so; ``update/delta`` is ignored). An update that changed only ``reported`` (the LMS's own
  report, echoed) changes nothing.
* They go to the agent as one ``cctv_apply_config`` (source ``shadow``; only an online agent; at most one in flight
  per agent, the newest waiting behind it). A revision older than one already sent is stale and dropped.
* The agent's answer (:class:`~shared.cctv.CamerasReported`: each camera applied or rejected with a reason) is
  written to ``state.reported`` through the durable outbox when it differs from what the shadow holds. An agent
  that cannot take the command at all (no camera support, too old) has every camera reported rejected with its
  reason. A failure that may pass (timeout, busy, offline) asks for a catch-up ``get`` (bounded retries).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

from pydantic import ValidationError

from edge.lms.agents import Registry
from edge.lms.cloud.outbox import Outbox
from edge.lms.commands import Router
from edge.lms.commands.router import SHADOW_SOURCE
from shared import topics
from shared.cctv import CameraResult, CamerasDesired, CamerasReported, cut_reason
from shared.errors import ErrorCode, SharedError
from shared.messages import Presence, Response
from shared.messages.camera_shadow import CameraShadow, CameraShadowDocuments, cameras_reported_update
from shared.messages.shadow import MAX_SHADOW_STATE_BYTES
from shared.topics import ShadowOp

log = logging.getLogger(__name__)

APPLY_COMMAND = "cctv_apply_config"
#: the agent cannot take the command at all: every camera is reported rejected with the agent's reason (and no
#: retry: another try cannot change the answer; the settings shadows' retries skip them too)
FINAL_FAILURES = frozenset({ErrorCode.NOT_SUPPORTED, ErrorCode.UNKNOWN_COMMAND, ErrorCode.INVALID_PARAMS})
#: ``update/documents`` holds two states and AWS's metadata
MAX_DOCUMENT_BYTES = 8 * MAX_SHADOW_STATE_BYTES


@dataclass(frozen=True, slots=True)
class CameraDone:
    """The agent's answer to one ``cctv_apply_config`` (posted to the worker's queue)."""

    agent_id: str
    desired: CamerasDesired
    response: Response


@dataclass
class CameraShadowStats:
    applies: int = 0  # cctv_apply_config sent
    reported: int = 0  # reported updates queued on the outbox
    failed: int = 0  # answers that were failures
    stale: int = 0  # desired revisions older than one sent already


class CameraShadows:
    def __init__(self, router: Router, registry: Registry, outbox: Outbox, *, thing: str,
                 post: Callable[[object], None]) -> None:
        self._router = router
        self._registry = registry
        self._outbox = outbox
        self._thing = thing
        self._post = post
        self._inflight: dict[str, CamerasDesired] = {}
        self._waiting: dict[str, CamerasDesired] = {}  # the newest desired behind the one in flight
        self._sent_rev: dict[str, int] = {}
        self._reported: dict[str, CamerasReported | None] = {}  # what the shadow holds, as last read
        self.stats = CameraShadowStats()

    def agent_of(self, shadow_name: str | None) -> str | None:
        return topics.agent_of_cctv_shadow(shadow_name, (v.agent_id for v in self._registry.agents()))

    # ------------------------------------------------------------ documents

    def on_document(self, agent_id: str, op: ShadowOp, payload: bytes) -> None:
        """Apply what ``get/accepted`` or ``update/documents`` desire. ``ValueError`` for a bad document."""
        if len(payload) > MAX_DOCUMENT_BYTES:
            raise ValueError(f"{len(payload)} bytes")
        if op is ShadowOp.GET_ACCEPTED:
            document = CameraShadow.model_validate_json(payload)
        elif op is ShadowOp.UPDATE_DOCUMENTS:
            documents = CameraShadowDocuments.model_validate_json(payload)
            document = documents.current
            if documents.previous is not None and documents.previous.state.desired == document.state.desired:
                self._reported[agent_id] = document.state.reported  # only reported changed (our own report)
                return
        else:
            return
        self._reported[agent_id] = document.state.reported
        if document.state.desired is not None:
            self.apply(agent_id, document.state.desired)

    def apply(self, agent_id: str, desired: CamerasDesired) -> None:
        if desired.rev < self._sent_rev.get(agent_id, -1):
            self.stats.stale += 1
            log.info("cameras: revision %d for %s is older than revision %d sent already; dropped", desired.rev,
                     agent_id, self._sent_rev[agent_id])
            return
        presence = self._registry.presence(agent_id)
        if presence is None:
            log.info("cameras: desired cameras for unknown agent %s dropped", agent_id)
            return
        if presence is not Presence.ONLINE:
            log.debug("cameras: %s is offline; its cameras wait for it", agent_id)
            return
        if agent_id in self._inflight:
            self._waiting[agent_id] = desired
            return
        self._inflight[agent_id] = desired
        self._sent_rev[agent_id] = desired.rev
        self.stats.applies += 1
        log.info("cameras: applying revision %d (%d camera(s)) to %s", desired.rev, len(desired.cameras), agent_id)
        ticket = self._router.dispatch(agent_id, APPLY_COMMAND, desired.model_dump(mode="json"),
                                        source=SHADOW_SOURCE)
        ticket.future.add_done_callback(functools.partial(self._done, agent_id, desired, ticket.request_id))

    def _done(self, agent_id: str, desired: CamerasDesired, request_id: str, fut: Future[Response]) -> None:
        """Router completion callback (any thread): only posts."""
        cancelled = fut.cancelled()
        response = Response.fail(request_id, ErrorCode.INTERNAL, "cancelled") if cancelled else fut.result()
        self._post(CameraDone(agent_id, desired, response))

    # ------------------------------------------------------------ answers

    def on_done(self, done: CameraDone) -> bool:
        """Report the agent's answer; ``True`` when a catch-up ``get`` should try again (a passing failure)."""
        if self._inflight.get(done.agent_id) is done.desired:
            del self._inflight[done.agent_id]
        retry = self._report(done)
        waiting = self._waiting.pop(done.agent_id, None)
        if waiting is not None:
            self.apply(done.agent_id, waiting)
            return False
        return retry

    def _report(self, done: CameraDone) -> bool:
        response = done.response
        if response.success:
            try:
                reported = CamerasReported.model_validate(response.data)
            except ValidationError as exc:
                self.stats.failed += 1
                log.warning("cameras: %s answered revision %d with a bad report: %s", done.agent_id, done.desired.rev,
                            str(exc).replace("\n", " ")[:300])  # fmt: skip
                return False
        else:
            self.stats.failed += 1
            code = response.error_code
            log.warning("cameras: %s did not take revision %d: %s (%s)", done.agent_id, done.desired.rev,
                        response.error, code)
            if code not in FINAL_FAILURES:
                return code is not ErrorCode.CONFLICT  # stale at the agent: a newer revision is there already
            reason = cut_reason(f"the agent refused the configuration: {response.error or code}")
            reported = CamerasReported(rev=done.desired.rev, cameras=[
                CameraResult(camera_id=str(c["camera_id"]), status="rejected", reason=reason)
                for c in done.desired.cameras])
        if reported == self._reported.get(done.agent_id):
            return False
        topic = topics.shadow(self._thing, ShadowOp.UPDATE, topics.cctv_shadow_name(done.agent_id))
        try:
            self._outbox.put(topic, cameras_reported_update(reported))
        except (ValueError, SharedError) as exc:
            log.error("cameras: cannot report revision %d of %s: %s", reported.rev, done.agent_id, exc)
            return False
        self._reported[done.agent_id] = reported
        self.stats.reported += 1
        return False
