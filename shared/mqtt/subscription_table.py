"""The subscriptions of one :class:`~shared.mqtt.client.MqttClient` (topic filter -> QoS, handler, where it runs)
and which of their handlers a message's topic goes to: matched once per topic, then cached."""

from __future__ import annotations

import threading

import paho.mqtt.client as mqtt

from shared.mqtt.subscription import Handler, Inline

#: Topics whose matching handlers are remembered (then the cache starts over).
MATCH_CACHE_SIZE = 100_000


class SubscriptionTable:
    """Thread-safe: subscriptions change on the caller's thread, topics are matched on the network thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subs: dict[str, tuple[int, Handler, Inline]] = {}
        self._matches: dict[str, list[tuple[Handler, Inline]]] = {}  # topic -> its handlers (a cache)
        #: one list per distinct set of handlers, shared by every topic of the cache that has it
        self._match_lists: dict[tuple[tuple[Handler, Inline], ...], list[tuple[Handler, Inline]]] = {}
        self._holders: set[Handler] = set()  # handlers that acknowledge their messages themselves

    def __getitem__(self, topic_filter: str) -> tuple[int, Handler, Inline]:
        """``topic_filter``'s (QoS, handler, inline); ``KeyError`` when nothing subscribed to it."""
        with self._lock:
            return self._subs[topic_filter]

    def add(self, topic_filter: str, qos: int, handler: Handler, inline: Inline, *, hold_ack: bool) -> None:
        """Subscribe ``handler`` (replacing what ``topic_filter`` had); ``hold_ack``: it acknowledges its messages."""
        with self._lock:
            if hold_ack:
                self._holders.add(handler)
            self._subs[topic_filter] = (qos, handler, inline)
            self._matches.clear()
            self._match_lists.clear()

    def remove(self, topic_filter: str) -> None:
        with self._lock:
            self._subs.pop(topic_filter, None)
            self._matches.clear()
            self._match_lists.clear()

    def filters(self) -> list[tuple[str, int]]:
        """(topic filter, QoS) of every subscription: what to subscribe to on (re)connect."""
        with self._lock:
            return [(topic, qos) for topic, (qos, _h, _i) in self._subs.items()]

    def holds_ack(self, handlers: list[tuple[Handler, Inline]]) -> bool:
        """Whether one of ``handlers`` acknowledges its messages itself (``hold_ack``)."""
        return any(h in self._holders for h, _i in handlers)

    def handlers_for(self, topic: str) -> list[tuple[Handler, Inline]]:
        """The handlers (and where each runs) of the subscriptions whose filter matches ``topic``."""
        with self._lock:
            found = self._matches.get(topic)
            if found is None:
                # matching every filter costs ~4 us each; a site's topics repeat (agent x channel), so cache (the
                # lists shared: 10,000 agents' topics hold a handful of them, not 40,000)
                if len(self._matches) >= MATCH_CACHE_SIZE:
                    self._matches.clear()
                fresh = [(h, i) for f, (_q, h, i) in self._subs.items() if mqtt.topic_matches_sub(f, topic)]
                found = self._match_lists.setdefault(tuple(fresh), fresh)
                self._matches[topic] = found
            return found
