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
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from infra.aws.cloud_app import ensure_importable
from shared.names import Namespace, rule_name
from shared.topics import (
    PRESENCE_TOPIC_SEGMENTS,
    SITE_TOPIC_SEGMENTS,
    SiteUp,
    all_sites_up_filter,
    presence_events_filter,
    site_thing_prefix,
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
        return presence_events_filter() if self.channel is None else all_sites_up_filter(ns, self.channel)

    def sql(self, ns: Namespace) -> str:
        """The rule's IoT SQL (version 2016-03-23): only functions in the SELECT list, no ``*`` merge."""
        if self.channel is None:
            return (f"SELECT encode(*, 'base64') AS {RULE_MESSAGE_KEY}, topic({CLIENT_ID_SEGMENT}) AS "
                    f"{RULE_CLIENT_KEY} FROM '{self.topic_filter(ns)}' "
                    f"WHERE startswith(topic({CLIENT_ID_SEGMENT}), '{site_thing_prefix(ns)}')")  # fmt: skip
        return (f"SELECT encode(*, 'base64') AS {RULE_MESSAGE_KEY}, topic({SITE_ID_SEGMENT}) AS {RULE_SITE_KEY} "
                f"FROM '{self.topic_filter(ns)}'")

    def matches(self, ns: Namespace, topic: str) -> bool:
        """The rule's ``WHERE`` (the lifecycle rule's: a site thing of ``ns``); the site rules have none."""
        if self.channel is None:
            return topic.split("/")[CLIENT_ID_SEGMENT - 1].startswith(site_thing_prefix(ns))
        return True

    @property
    def description(self) -> str:
        what = "IoT Core's lifecycle events" if self.channel is None else self.channel.value
        return f"{what} of every site of the tenant -> {self.handler}"

    def full_name(self, ns: Namespace) -> str:
        return rule_name(ns, self.name)


RULES: tuple[Rule, ...] = (
    Rule("site_heartbeat", SiteUp.HEARTBEAT, "site_heartbeat"),
    Rule("command_results", SiteUp.RESULTS, "command_results"),
    Rule("site_events", SiteUp.EVENTS, "site_events"),
    Rule("site_sync", SiteUp.SYNC, "site_sync"),
    Rule("site_metrics", SiteUp.METRICS, "site_metrics"),
    Rule("agents_retired", SiteUp.RETIRED, "agents_retired"),
    Rule("upgrade_reports", SiteUp.UPGRADES, "upgrade_reports"),
    Rule("site_alerts", SiteUp.ALERTS, "site_alerts"),
    Rule("site_presence", None, "site_presence"),
)


def rule_for_handler(handler: str) -> Rule:
    for rule in RULES:
        if rule.handler == handler:
            return rule
    raise KeyError(f"no rule invokes {handler!r}")


def event_for(rule: Rule, topic: str, payload: bytes) -> dict[str, object]:
    """What IoT Core hands the Lambda for ``payload`` (any bytes) received on ``topic``: :meth:`Rule.sql`
    evaluated (``encode(*, 'base64')`` is the raw payload in base64; ``topic(n)`` the n-th topic level); the
    ``WHERE`` is :meth:`Rule.matches`."""
    if rule.channel is None:
        return {
            RULE_MESSAGE_KEY: base64.b64encode(payload).decode("ascii"),
            RULE_CLIENT_KEY: topic.split("/")[CLIENT_ID_SEGMENT - 1],
        }
    return {
        RULE_MESSAGE_KEY: base64.b64encode(payload).decode("ascii"),
        RULE_SITE_KEY: topic.split("/")[SITE_ID_SEGMENT - 1],
    }
