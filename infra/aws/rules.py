"""The IoT topic-rule table: the single source for the template's ``AWS::IoT::TopicRule`` resources and
for the local twin's rules engine.

Each rule takes the messages an LMS publishes on one up channel of every site of a tenant, adds the fields
taken from the topic, and invokes one Lambda handler of the Chalice app (``@app.lambda_function(name=...)``,
listed in ``chalicelib.handlers.RULE_HANDLERS``).
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.names import Namespace, rule_name
from shared.topics import SITE_TOPIC_SEGMENTS, SiteUp, all_sites_up_filter

#: Position (1-based, as in IoT SQL's ``topic(n)``) of the site id in a site's up topic.
SITE_ID_SEGMENT = SITE_TOPIC_SEGMENTS["site_id"]


@dataclass(frozen=True, slots=True)
class Rule:
    name: str  # rule name suffix; the full name is ``classtop__{tenant}__{stage}__{name}`` (shared.names.rule_name)
    channel: SiteUp
    handler: str  # the Lambda function name in the Chalice app
    #: fields added to the event: name -> 1-based topic segment
    topic_fields: tuple[tuple[str, int], ...] = (("site_id", SITE_ID_SEGMENT),)

    def topic_filter(self, ns: Namespace) -> str:
        return all_sites_up_filter(ns, self.channel)

    def sql(self, ns: Namespace) -> str:
        """The rule's IoT SQL (version 2016-03-23)."""
        extra = ", ".join(f"topic({pos}) AS {name}" for name, pos in self.topic_fields)
        return f"SELECT *, {extra} FROM '{self.topic_filter(ns)}'"

    def full_name(self, ns: Namespace) -> str:
        return rule_name(ns, self.name)


RULES: tuple[Rule, ...] = (
    Rule("site_heartbeat", SiteUp.HEARTBEAT, "site_heartbeat"),
    Rule("command_results", SiteUp.RESULTS, "command_results"),
    Rule("site_events", SiteUp.EVENTS, "site_events"),
    Rule("site_sync", SiteUp.SYNC, "site_sync"),
    Rule("site_metrics", SiteUp.METRICS, "site_metrics"),
)


def event_for(rule: Rule, topic: str, payload: dict[str, object]) -> dict[str, object]:
    """What IoT Core hands the Lambda for ``payload`` received on ``topic`` (``SELECT *, topic(n) AS f``)."""
    parts = topic.split("/")
    event = dict(payload)
    for name, pos in rule.topic_fields:
        event[name] = parts[pos - 1]
    return event
