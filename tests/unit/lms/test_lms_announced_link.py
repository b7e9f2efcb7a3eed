"""The outbox waits until the site's agents are announced (issue 19): after a site-only start, the first link to
the cloud must carry the site's full heartbeat — which makes its agents known to the cloud — before the snapshots
and results the LMS kept, which the cloud refuses for agents it does not know at the site."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Any

from edge.lms.cloud.site_heartbeats import AnnouncedLink, SiteHeartbeats
from shared.names import Namespace


class Link:
    def __init__(self) -> None:
        self.connected = True
        self.sent: list[tuple[str, Future[None]]] = []
        self.published = threading.Event()

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> Future[None]:
        future: Future[None] = Future()
        self.sent.append((topic, future))
        self.published.set()
        return future


class Registry:
    def agents(self) -> list[Any]:
        return []


def test_the_outbox_sees_the_link_only_once_a_full_heartbeat_was_accepted() -> None:
    link = Link()
    beats = SiteHeartbeats(link, Registry(), namespace=Namespace("t", "dev"), site_id="s1",  # type: ignore[arg-type]
                           period_s=600, lms_version="1.0")  # fmt: skip
    woken = threading.Event()
    beats.on_announced = woken.set
    outbox_link = AnnouncedLink(link, beats)  # type: ignore[arg-type]
    beats.start()
    try:
        assert link.published.wait(10)
        [(topic, future)] = link.sent
        assert topic.endswith("/heartbeat")
        assert not outbox_link.connected  # the heartbeat is not accepted yet: the outbox waits
        future.set_exception(TimeoutError("no PUBACK"))
        assert not outbox_link.connected and not woken.is_set()  # not delivered: still waiting
        link.published.clear()
        beats.on_connected()  # reconnected: a full heartbeat again
        assert link.published.wait(10)
        link.sent[-1][1].set_result(None)  # accepted
        assert woken.is_set() and outbox_link.connected
        link.connected = False
        assert not outbox_link.connected  # and the link's own state still counts
    finally:
        beats.stop()
