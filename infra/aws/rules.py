"""The IoT topic-rule table: the single source for the template's ``AWS::IoT::TopicRule`` resources and
for the local twin's rules engine.

Each rule takes the messages an LMS publishes on one up channel of every site of a tenant and invokes one
Lambda handler of the Chalice app (``@app.lambda_function(name=...)``, listed in
``chalicelib.handlers.RULE_HANDLERS``) with an event of exactly two keys (``chalicelib.handlers.events``):

* the site id, taken from the topic (``topic(5)``): the site policy lets an LMS publish only on its own
  site's topics, so this is the sender's site;
* the message, base64-encoded whole (``encode(*, 'base64')``).

One more rule, ``site_presence``, takes IoT Core's own lifecycle events (``$aws/events/presence/{connected|
disconnected}/{clientId}``) of the tenant's sites — a site's client id is its thing name, so the rule keeps only
client ids starting with the namespace's thing prefix — and hands the client id from the topic (``topic(5)``)
instead of a site id. Only IoT Core publishes on ``$aws/events/``.

The rule never merges the message into the event (``SELECT *, ...``): a message key equal to an alias would
compete with the topic's value, and AWS documents no winner. An encoded message has no keys at the top level,
so nothing a site publishes can name another site.

The LMS publishes with Basic Ingest (``shared.topics.site_up``): ``$aws/rules/<the rule's full name>/<topic>``
reaches that rule only, without the broker (no subscriber, no messaging charge), and the rule's SQL sees
``<topic>``, so ``topic(5)`` is the site id either way. The ``FROM`` filter stays: the rule also takes the plain
topic (what an LMS of an earlier version publishes).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from infra.aws.cloud_app import ensure_importable
from shared.names import Namespace, rule_name
from shared.topics import (
    PRESENCE_TOPIC_SEGMENTS,
    SITE_TOPIC_SEGMENTS,
    SITE_UP_RULES,
    SiteUp,
    all_sites_up_filter,
    basic_ingest,
    presence_events_filter,
    site_thing_prefix,
    split_basic_ingest,
)

ensure_importable()
from chalicelib.handlers.events import (  # noqa: E402  (cloud/ on the path first)
    RULE_CLIENT_KEY,
    RULE_MESSAGE_KEY,
    RULE_SITE_KEY,
)

#: Position (1-based, as in IoT SQL's ``topic(n)``) of the site id in a site's up topic.
SITE_ID_SEGMENT = SITE_TOPIC_SEGMENTS["site_id"]
#: ... and of the client id in a lifecycle event's topic
CLIENT_ID_SEGMENT = PRESENCE_TOPIC_SEGMENTS["client_id"]


@dataclass(frozen=True, slots=True)
class Rule:
    name: str  # rule name suffix; the full name is ``classtop__{tenant}__{stage}__{name}`` (shared.names.rule_name)
    channel: SiteUp | None  # None: IoT Core's lifecycle events of the tenant's sites
    handler: str  # the Lambda function name in the Chalice app

    def topic_filter(self, ns: Namespace) -> str:
        """The SQL's ``FROM`` filter (what the rule sees, Basic Ingest prefix left off)."""
        return presence_events_filter() if self.channel is None else all_sites_up_filter(ns, self.channel)

    def basic_ingest_filter(self, ns: Namespace) -> str:
        """Every topic an LMS of ``ns`` sends this rule with Basic Ingest (the twin's rules engine subscribes it)."""
        return basic_ingest(self.full_name(ns), self.topic_filter(ns))

    def sql(self, ns: Namespace) -> str:
        """The rule's IoT SQL (version 2016-03-23): only functions in the SELECT list, no ``*`` merge. The ``WHERE``
        pins every level but the site id to the ``FROM`` filter's: a Basic Ingest message reaches the rule its
        prefix names whatever its topic (the site policy's ``$aws/rules/classtop__*/...`` lets a site name any rule,
        and an IoT policy ``*`` spans levels), so the SQL checks the topic it sees. The lifecycle rule keeps the
        client ids of ``ns``'s site things."""
        if self.channel is None:
            return (f"SELECT encode(*, 'base64') AS {RULE_MESSAGE_KEY}, topic({CLIENT_ID_SEGMENT}) AS "
                    f"{RULE_CLIENT_KEY} FROM '{self.topic_filter(ns)}' WHERE {self.where(ns)}")  # fmt: skip
        return (f"SELECT encode(*, 'base64') AS {RULE_MESSAGE_KEY}, topic({SITE_ID_SEGMENT}) AS {RULE_SITE_KEY} "
                f"FROM '{self.topic_filter(ns)}' WHERE {self.where(ns)}")

    def where(self, ns: Namespace) -> str:
        """Every fixed level of the ``FROM`` filter pinned (a Basic Ingest message names any topic); the lifecycle
        rule's client id a site thing of ``ns``."""
        levels = self.topic_filter(ns).split("/")
        checks = [f"topic({n}) = '{level}'" for n, level in enumerate(levels, 1)
                  if n != self._free_segment and level != "+"]
        if self.channel is None:
            checks.append(f"startswith(topic({CLIENT_ID_SEGMENT}), '{site_thing_prefix(ns)}')")
        return " AND ".join(checks)

    @property
    def _free_segment(self) -> int:
        """The level the ``WHERE`` leaves free: the site id, or the lifecycle event's client id (its event kind,
        ``connected``/``disconnected``, is free too: ``+`` in the filter)."""
        return CLIENT_ID_SEGMENT if self.channel is None else SITE_ID_SEGMENT

    def sees(self, ns: Namespace, topic: str) -> bool:
        """Whether the rule's ``WHERE`` holds for a message on ``topic`` (Basic Ingest prefix left off; the lifecycle
        rule's: a site thing of ``ns``)."""
        levels, seen = self.topic_filter(ns).split("/"), split_basic_ingest(topic)[1].split("/")
        if len(seen) < len(levels) or not all(n == self._free_segment - 1 or level == "+" or seen[n] == level
                                              for n, level in enumerate(levels)):
            return False
        return self.channel is not None or seen[CLIENT_ID_SEGMENT - 1].startswith(site_thing_prefix(ns))

    @property
    def description(self) -> str:
        what = "IoT Core's lifecycle events" if self.channel is None else self.channel.value
        return f"{what} of every site of the tenant -> {self.handler}"

    def full_name(self, ns: Namespace) -> str:
        return rule_name(ns, self.name)


#: one rule per channel of ``shared.topics.SITE_UP_RULES`` (the names the LMS's Basic Ingest topics carry)
RULES: tuple[Rule, ...] = (
    Rule(SITE_UP_RULES[SiteUp.HEARTBEAT], SiteUp.HEARTBEAT, "site_heartbeat"),
    Rule(SITE_UP_RULES[SiteUp.RESULTS], SiteUp.RESULTS, "command_results"),
    Rule(SITE_UP_RULES[SiteUp.EVENTS], SiteUp.EVENTS, "site_events"),
    Rule(SITE_UP_RULES[SiteUp.SYNC], SiteUp.SYNC, "site_sync"),
    Rule(SITE_UP_RULES[SiteUp.METRICS], SiteUp.METRICS, "site_metrics"),
    Rule(SITE_UP_RULES[SiteUp.RETIRED], SiteUp.RETIRED, "agents_retired"),
    Rule(SITE_UP_RULES[SiteUp.UPGRADES], SiteUp.UPGRADES, "upgrade_reports"),
    Rule(SITE_UP_RULES[SiteUp.ALERTS], SiteUp.ALERTS, "site_alerts"),
    Rule("site_presence", None, "site_presence"),
)


def rule_for_handler(handler: str) -> Rule:
    for rule in RULES:
        if rule.handler == handler:
            return rule
    raise KeyError(f"no rule invokes {handler!r}")


def event_for(rule: Rule, topic: str, payload: bytes) -> dict[str, object]:
    """What IoT Core hands the Lambda for ``payload`` (any bytes) received on ``topic``: :meth:`Rule.sql`
    evaluated (``encode(*, 'base64')`` is the raw payload in base64; ``topic(n)`` the n-th topic level, of a Basic
    Ingest topic without its ``$aws/rules/<rule>/`` prefix); the ``WHERE`` is :meth:`Rule.sees`."""
    _, seen = split_basic_ingest(topic)
    if rule.channel is None:
        return {
            RULE_MESSAGE_KEY: base64.b64encode(payload).decode("ascii"),
            RULE_CLIENT_KEY: seen.split("/")[CLIENT_ID_SEGMENT - 1],
        }
    return {
        RULE_MESSAGE_KEY: base64.b64encode(payload).decode("ascii"),
        RULE_SITE_KEY: seen.split("/")[SITE_ID_SEGMENT - 1],
    }
