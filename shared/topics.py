"""Every MQTT topic string of the system: builders and one parser.

No other module formats a topic. Three families:

* **Site broker** (agent <-> LMS, Mosquitto on the site)::

      ct/agent/{agent_id}/up/{channel}      agent -> LMS   (status, heartbeat, metrics, state, response, event)
      ct/agent/{agent_id}/down/{channel}    LMS -> agent   (command)

  The ``up``/``down`` split lets the broker ACL give an agent write on its own ``up`` and read on its own
  ``down`` and nothing else.

* **Cloud** (LMS <-> AWS IoT Core), prefixed by the tenant and the stage (:class:`shared.names.Namespace`) so
  that no policy or rule of one tenant's stage can match another's::

      ct/{tenant}/{stage}/site/{site_id}/up/{channel}     LMS -> cloud  (heartbeat, results, events, ...)
      ct/{tenant}/{stage}/site/{site_id}/down/{channel}   cloud -> LMS  (command, logs)

  Every up channel is consumed by one IoT topic rule and nothing else, so the LMS publishes it with AWS IoT
  **Basic Ingest**: on the same topic behind the rule's reserved prefix, which goes to that rule only (no
  subscriber receives it) and carries no messaging charge (docs/protocol.md, "Basic Ingest")::

      $aws/rules/{rule name}/ct/{tenant}/{stage}/site/{site_id}/up/{channel}

  ``{rule name}`` is ``classtop__{tenant}__{stage}__{rule}`` (:func:`shared.names.rule_name`, the rule of the
  channel in :data:`SITE_UP_RULES`); the rule's SQL sees the topic without the prefix (``topic(5)`` is still the
  site id).

* **Device shadows** (AWS reserved topics). Each site is one IoT thing, ``ct--{tenant}--{stage}--{site_id}``;
  each agent's settings are a named shadow of the site's thing, named after the agent (agent ids fit AWS's
  64-character shadow names; names holding ``:``, which no agent id can, are left for other shadows), so the
  site's policy covers its agents' shadows::

      $aws/things/{thing}/shadow/name/{agent_id}/{operation}
      $aws/things/{thing}/shadow/name/cctv:{agent_id}/{operation}     (the agent's cameras set in the cloud)

* **IoT Core's lifecycle events** (AWS reserved topics, published by IoT Core itself; the twin's stand-in publishes
  them as AWS does, ``infra/local/lifecycle_events.py``)::

      $aws/events/presence/{connected|disconnected}/{client_id}      (a site's client id is its thing name)
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from shared.errors import TopicError
from shared.names import SEP, Namespace, rule_name

ROOT = "ct"
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
_ID_RE = re.compile(ID_PATTERN)
_THING_RE = re.compile(r"^[A-Za-z0-9_:-]{1,128}$")
_SHADOW_RE = re.compile(r"^[A-Za-z0-9_:-]{1,64}$")


class AgentUp(StrEnum):
    STATUS = "status"
    HEARTBEAT = "heartbeat"
    METRICS = "metrics"
    STATE = "state"
    RESPONSE = "response"
    EVENT = "event"


class AgentDown(StrEnum):
    COMMAND = "command"


class SiteUp(StrEnum):
    HEARTBEAT = "heartbeat"
    RESULTS = "results"
    EVENTS = "events"
    METRICS = "metrics"
    SYNC = "sync"
    STATE = "state"
    UPGRADES = "upgrades"  # campaign progress (shared.messages.upgrades.UpgradeCampaignReport), through the outbox
    RETIRED = "retired"  # agents retired at the site (shared.messages.retirement.AgentsRetired), through the outbox
    ALERTS = "alerts"  # alert changes of the site's rules (shared.messages.alert.SiteAlerts), through the outbox


#: The IoT topic rule (its name suffix, :func:`shared.names.rule_name`) that consumes each site up channel; the LMS
#: publishes these channels with Basic Ingest (:func:`site_up`). A channel without a rule is published plainly.
SITE_UP_RULES: dict[SiteUp, str] = {
    SiteUp.HEARTBEAT: "site_heartbeat",
    SiteUp.RESULTS: "command_results",
    SiteUp.EVENTS: "site_events",
    SiteUp.SYNC: "site_sync",
    SiteUp.METRICS: "site_metrics",
    SiteUp.RETIRED: "agents_retired",
    SiteUp.UPGRADES: "upgrade_reports",
    SiteUp.ALERTS: "site_alerts",
}

#: AWS IoT Basic Ingest's reserved prefix: ``$aws/rules/{rule name}/{topic}`` goes to that rule only
BASIC_INGEST_PREFIX = "$aws/rules/"
_RULE_NAME_RE = re.compile(r"^[A-Za-z0-9_]{1,128}$")


class SiteDown(StrEnum):
    COMMAND = "command"
    LOGS = "logs"  # the cloud asks the LMS for its own logs (shared.messages.logs.LogRequest)
    RETIRE = "retire"  # the cloud retires one of the site's agents (shared.messages.retirement.AgentRetire)
    UPGRADE = "upgrade"  # the cloud starts or cancels an upgrade campaign (shared.messages.upgrades.UpgradeOrder)
    ALERT_ACK = "alert_ack"  # an operator acknowledged a site's alert in the cloud (shared.messages.alert)


class ShadowOp(StrEnum):
    UPDATE = "update"
    UPDATE_ACCEPTED = "update/accepted"
    UPDATE_REJECTED = "update/rejected"
    UPDATE_DELTA = "update/delta"
    UPDATE_DOCUMENTS = "update/documents"
    GET = "get"
    GET_ACCEPTED = "get/accepted"
    GET_REJECTED = "get/rejected"
    DELETE = "delete"
    DELETE_ACCEPTED = "delete/accepted"
    DELETE_REJECTED = "delete/rejected"


class Family(StrEnum):
    AGENT = "agent"
    SITE = "site"
    SHADOW = "shadow"


def check_id(value: str, what: str = "id") -> str:
    """Return ``value`` if it is a valid agent/site id (1-64 chars, no MQTT wildcards or ``/``)."""
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise TopicError(f"invalid {what} {value!r}: use 1-64 of A-Z a-z 0-9 _ - (starting with a letter or digit)")
    return value


def is_valid_id(value: str) -> bool:
    return isinstance(value, str) and bool(_ID_RE.fullmatch(value))  # match() would take "a\n" ($ before "\n")


# ---------------------------------------------------------------- site broker


def agent_up(agent_id: str, channel: AgentUp) -> str:
    return f"{ROOT}/agent/{check_id(agent_id, 'agent id')}/up/{AgentUp(channel).value}"


def agent_down(agent_id: str, channel: AgentDown = AgentDown.COMMAND) -> str:
    return f"{ROOT}/agent/{check_id(agent_id, 'agent id')}/down/{AgentDown(channel).value}"


def agent_down_filter(agent_id: str) -> str:
    """What an agent subscribes to: everything sent down to it."""
    return f"{ROOT}/agent/{check_id(agent_id, 'agent id')}/down/+"


def all_agents_up_filter(channel: AgentUp | None = None) -> str:
    """What the LMS subscribes to: one channel, or every channel, of every agent."""
    return f"{ROOT}/agent/+/up/{AgentUp(channel).value if channel else '+'}"


def agent_up_acl(agent_id: str) -> str:
    """Everything one agent may publish (its own ``up`` channels): a broker ACL topic."""
    return f"{ROOT}/agent/{check_id(agent_id, 'agent id')}/up/#"


def agent_down_acl(agent_id: str) -> str:
    """Everything one agent may subscribe to and receive (its own ``down`` channels): a broker ACL topic."""
    return f"{ROOT}/agent/{check_id(agent_id, 'agent id')}/down/#"


def site_broker_acl() -> str:
    """Every ClassTop topic of the site broker (the LMS's own ACL)."""
    return f"{ROOT}/#"


# ---------------------------------------------------------------- site broker control (dynamic security)

DYNSEC_CONTROL = "$CONTROL/dynamic-security/v1"
"""Where Mosquitto's dynamic-security plugin takes its JSON commands (only its admin client may publish)."""


def dynsec_control() -> str:
    return DYNSEC_CONTROL


#: Mosquitto's notice-level log lines, when it logs to topics (``log_dest topic``): the twin's IoT Core stand-in
#: reads its clients' connections and disconnections there (``infra/local/lifecycle_events.py``)
BROKER_NOTICE_LOG = "$SYS/broker/log/N"
#: ... and its error-level lines (a TLS stream cut short shows there first)
BROKER_ERROR_LOG = "$SYS/broker/log/E"


def broker_notice_log() -> str:
    return BROKER_NOTICE_LOG


def broker_error_log() -> str:
    return BROKER_ERROR_LOG


def dynsec_response() -> str:
    """Where the plugin answers :func:`dynsec_control` commands."""
    return f"{DYNSEC_CONTROL}/response"


# ---------------------------------------------------------------- cloud


def _site_prefix(ns: Namespace, site_id: str) -> str:
    return f"{ROOT}/{ns.tenant}/{ns.stage}/site/{check_id(site_id, 'site id')}"


def site_up(ns: Namespace, site_id: str, channel: SiteUp) -> str:
    """The topic an LMS publishes ``channel`` on: Basic Ingest to the channel's rule (:data:`SITE_UP_RULES`), or
    the plain topic (:func:`site_up_plain`) for a channel no rule consumes."""
    rule = SITE_UP_RULES.get(SiteUp(channel))
    plain = site_up_plain(ns, site_id, channel)
    return basic_ingest(rule_name(ns, rule), plain) if rule else plain


def site_up_plain(ns: Namespace, site_id: str, channel: SiteUp) -> str:
    """``ct/{tenant}/{stage}/site/{site_id}/up/{channel}``: what the channel's rule sees (its SQL's topic, and its
    ``FROM`` filter :func:`all_sites_up_filter`), the Basic Ingest prefix left off."""
    return f"{_site_prefix(ns, site_id)}/up/{SiteUp(channel).value}"


def basic_ingest(rule: str, topic: str) -> str:
    """``topic`` sent to the IoT rule named ``rule`` (its full name) with Basic Ingest."""
    if not _RULE_NAME_RE.match(rule):
        raise TopicError(f"invalid IoT rule name {rule!r}")
    return f"{BASIC_INGEST_PREFIX}{rule}/{topic}"


def split_basic_ingest(topic: str) -> tuple[str | None, str]:
    """``(rule name, topic the rule sees)`` of a Basic Ingest topic; ``(None, topic)`` for any other topic."""
    if not topic.startswith(BASIC_INGEST_PREFIX):
        return None, topic
    rule, sep, rest = topic[len(BASIC_INGEST_PREFIX):].partition("/")
    if not sep or not rest or not _RULE_NAME_RE.match(rule):
        raise TopicError(f"not a Basic Ingest topic: {topic!r}")
    return rule, rest


def site_down(ns: Namespace, site_id: str, channel: SiteDown = SiteDown.COMMAND) -> str:
    return f"{_site_prefix(ns, site_id)}/down/{SiteDown(channel).value}"


def site_down_filter(ns: Namespace, site_id: str) -> str:
    """What an LMS subscribes to on IoT Core."""
    return f"{_site_prefix(ns, site_id)}/down/+"


def all_sites_up_filter(ns: Namespace, channel: SiteUp) -> str:
    """The ``FROM`` filter of a cloud topic rule (one per up channel): the topics without the Basic Ingest prefix."""
    return f"{ROOT}/{ns.tenant}/{ns.stage}/site/+/up/{SiteUp(channel).value}"


#: 1-based positions (IoT SQL ``topic(n)``) in ``ct/{tenant}/{stage}/site/{site_id}/up/{channel}``
SITE_TOPIC_SEGMENTS = {"tenant": 2, "stage": 3, "site_id": 5, "channel": 7}


# ---------------------------------------------------------------- shadows


def site_thing_name(ns: Namespace, site_id: str) -> str:
    """The IoT thing of a site's LMS, ``ct--{tenant}--{stage}--{site_id}``. Its named shadows hold the site's
    agents' settings."""
    return SEP.join((ROOT, ns.tenant, ns.stage, check_id(site_id, "site id")))


def agent_shadow_name(agent_id: str) -> str:
    """The named shadow of an agent's settings: the agent id itself."""
    return check_id(agent_id, "agent id")


def agent_of_shadow(shadow_name: str | None) -> str | None:
    """The agent whose settings shadow this is (inverse of :func:`agent_shadow_name`), else ``None``."""
    return shadow_name if shadow_name and is_valid_id(shadow_name) else None


#: The named shadow of the site's LMS's own configuration (what a district sets centrally: docs/protocol.md
#: "The LMS's configuration from the cloud"). It holds ``:``, which no agent id can, so it never names an agent.
LMS_CONFIG_SHADOW = "lms:config"


def lms_config_shadow_name() -> str:
    """The named shadow (of the site's thing) holding the LMS's own cloud-set configuration."""
    return LMS_CONFIG_SHADOW


def is_lms_config_shadow(shadow_name: str | None) -> bool:
    """Whether ``shadow_name`` is the LMS's configuration shadow (inverse of :func:`lms_config_shadow_name`)."""
    return shadow_name == LMS_CONFIG_SHADOW


#: The named shadow (of the site's thing) holding the tenant's alert rules for the site to evaluate
#: (shared.messages.alert.AlertRulesDocument). It holds ``:``, which no agent id can.
ALERT_RULES_SHADOW = "alerts:rules"


def alert_rules_shadow_name() -> str:
    """The named shadow (of the site's thing) holding the tenant's alert rules."""
    return ALERT_RULES_SHADOW


def is_alert_rules_shadow(shadow_name: str | None) -> bool:
    """Whether ``shadow_name`` is the tenant's alert rules shadow (inverse of :func:`alert_rules_shadow_name`)."""
    return shadow_name == ALERT_RULES_SHADOW


def shadow(thing: str, op: ShadowOp, shadow_name: str | None = None) -> str:
    if not _THING_RE.match(thing):
        raise TopicError(f"invalid thing name {thing!r}")
    if shadow_name is None:
        return f"$aws/things/{thing}/shadow/{ShadowOp(op).value}"
    if not _SHADOW_RE.match(shadow_name):
        raise TopicError(f"invalid shadow name {shadow_name!r}")
    return f"$aws/things/{thing}/shadow/name/{shadow_name}/{ShadowOp(op).value}"


def shadow_filter(thing: str) -> str:
    """All named-shadow topics of one thing (what the LMS subscribes to)."""
    if not _THING_RE.match(thing):
        raise TopicError(f"invalid thing name {thing!r}")
    return f"$aws/things/{thing}/shadow/name/+/#"


#: Prefix of an agent's camera configuration shadow (docs/cctv.md#camera-configuration-from-the-cloud). It holds
#: ``:``, which no agent id can, so it never names an agent's settings shadow.
CCTV_SHADOW_PREFIX = "cctv:"
_SHADOW_NAME_MAX = 64
_CCTV_HASHED_KEEP = _SHADOW_NAME_MAX - len(CCTV_SHADOW_PREFIX) - 17  # prefix + id head + ":" + 16 hex digits


def cctv_shadow_name(agent_id: str) -> str:
    """The named shadow (of the site's thing) holding an agent's camera configuration: ``cctv:{agent_id}``, or, for
    an agent id too long for AWS's 64-character shadow names, ``cctv:{head of the id}:{16 hex of its SHA-256}``."""
    check_id(agent_id, "agent id")
    name = CCTV_SHADOW_PREFIX + agent_id
    if len(name) <= _SHADOW_NAME_MAX:
        return name
    digest = hashlib.sha256(agent_id.encode()).hexdigest()[:16]
    return f"{CCTV_SHADOW_PREFIX}{agent_id[:_CCTV_HASHED_KEEP]}:{digest}"


def is_cctv_shadow(shadow_name: str | None) -> bool:
    return bool(shadow_name) and str(shadow_name).startswith(CCTV_SHADOW_PREFIX)


def agent_of_cctv_shadow(shadow_name: str | None, known: Iterable[str] = ()) -> str | None:
    """The agent whose camera shadow this is (inverse of :func:`cctv_shadow_name`), else ``None``. The hashed form
    of a long id is resolved among ``known`` agent ids."""
    if not shadow_name or not is_cctv_shadow(shadow_name):
        return None
    rest = shadow_name[len(CCTV_SHADOW_PREFIX):]
    if is_valid_id(rest):
        return rest
    return next((a for a in known if len(a) > _SHADOW_NAME_MAX - len(CCTV_SHADOW_PREFIX)
                 and is_valid_id(a) and cctv_shadow_name(a) == shadow_name), None)


# ---------------------------------------------------------------- IoT Core lifecycle events

PRESENCE_EVENTS = "$aws/events/presence"


class PresenceEvent(StrEnum):
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"


#: 1-based positions (IoT SQL ``topic(n)``) in ``$aws/events/presence/{event}/{client_id}``
PRESENCE_TOPIC_SEGMENTS = {"event": 4, "client_id": 5}


def presence_event(event: PresenceEvent, client_id: str) -> str:
    """Where IoT Core announces that ``client_id`` connected or disconnected (its client ids hold no ``+``/``#``
    nor ``/``: AWS sends no lifecycle event for those)."""
    if not client_id or any(c in client_id for c in "+#/"):
        raise TopicError(f"no lifecycle event for the client id {client_id!r}")
    return f"{PRESENCE_EVENTS}/{PresenceEvent(event).value}/{client_id}"


def presence_events_filter() -> str:
    """Every lifecycle connect/disconnect event (the cloud's lifecycle rule narrows it to the namespace's sites)."""
    return f"{PRESENCE_EVENTS}/+/+"


def site_thing_prefix(ns: Namespace) -> str:
    """What every site thing name of ``ns`` starts with (:func:`site_thing_name`)."""
    return SEP.join((ROOT, ns.tenant, ns.stage, ""))


def site_of_thing(ns: Namespace, thing: str) -> str | None:
    """The site id whose thing (and so client id) is ``thing`` in ``ns``; None for anything else."""
    prefix = site_thing_prefix(ns)
    site_id = thing[len(prefix):] if thing.startswith(prefix) else ""
    return site_id if is_valid_id(site_id) and site_thing_name(ns, site_id) == thing else None


def parse_presence_event(topic: str) -> tuple[PresenceEvent, str]:
    """``(event, client_id)`` of a lifecycle topic; :class:`TopicError` for anything else."""
    parts = topic.split("/")
    if len(parts) != 5 or "/".join(parts[:3]) != PRESENCE_EVENTS:
        raise TopicError(f"not a lifecycle event topic: {topic!r}")
    try:
        event = PresenceEvent(parts[3])
    except ValueError:
        raise TopicError(f"unknown lifecycle event in {topic!r}") from None
    presence_event(event, parts[4])  # validates the client id
    return event, parts[4]


# ---------------------------------------------------------------- parser


@dataclass(frozen=True, slots=True)
class ParsedTopic:
    family: Family
    direction: str | None = None  # "up" / "down" for agent and site topics
    channel: str | None = None  # AgentUp/AgentDown/SiteUp/SiteDown value
    agent_id: str | None = None
    namespace: Namespace | None = None
    site_id: str | None = None
    thing: str | None = None
    shadow_name: str | None = None
    op: ShadowOp | None = None
    #: a site up topic sent with Basic Ingest (``$aws/rules/<its rule>/...``)
    basic_ingest: bool = False

    def build(self) -> str:
        """Rebuild the topic string (round trip of :func:`parse`)."""
        if self.family is Family.AGENT:
            assert self.agent_id is not None and self.channel is not None
            if self.direction == "up":
                return agent_up(self.agent_id, AgentUp(self.channel))
            return agent_down(self.agent_id, AgentDown(self.channel))
        if self.family is Family.SITE:
            assert self.namespace is not None and self.site_id is not None and self.channel is not None
            if self.direction == "up":
                build = site_up if self.basic_ingest else site_up_plain
                return build(self.namespace, self.site_id, SiteUp(self.channel))
            return site_down(self.namespace, self.site_id, SiteDown(self.channel))
        assert self.thing is not None and self.op is not None
        return shadow(self.thing, self.op, self.shadow_name)


_CHANNELS: dict[tuple[str, str], type[StrEnum]] = {
    ("agent", "up"): AgentUp,
    ("agent", "down"): AgentDown,
    ("site", "up"): SiteUp,
    ("site", "down"): SiteDown,
}


def _channel(family: str, direction: str, value: str, topic: str) -> str:
    enum = _CHANNELS.get((family, direction))
    if enum is None:
        raise TopicError(f"not a ClassTop topic: {topic!r}")
    try:
        return str(enum(value).value)
    except ValueError:
        raise TopicError(f"unknown {family} {direction} channel {value!r} in {topic!r}") from None


def parse(topic: str) -> ParsedTopic:
    """Parse any topic this system uses; raise :class:`TopicError` for anything else. A site up topic sent with
    Basic Ingest parses as its channel's (the prefix must name that channel's rule of the same namespace)."""
    rule, seen = split_basic_ingest(topic)
    if rule is not None:
        parsed = dataclasses.replace(parse(seen), basic_ingest=True)
        if parsed.family is not Family.SITE or parsed.direction != "up" or parsed.build() != topic:
            raise TopicError(f"not a ClassTop Basic Ingest topic: {topic!r}")
        return parsed
    parts = topic.split("/")
    if len(parts) == 5 and parts[0] == ROOT and parts[1] == "agent":
        agent_id = check_id(parts[2], "agent id")
        return ParsedTopic(
            Family.AGENT, parts[3], _channel("agent", parts[3], parts[4], topic), agent_id=agent_id
        )
    if len(parts) == 7 and parts[0] == ROOT and parts[3] == "site":
        namespace = Namespace(parts[1], parts[2])  # InvalidName (a TopicError) for a bad tenant or stage
        site_id = check_id(parts[4], "site id")
        return ParsedTopic(
            Family.SITE, parts[5], _channel("site", parts[5], parts[6], topic), namespace=namespace, site_id=site_id
        )
    if len(parts) >= 4 and parts[0] == "$aws" and parts[1] == "things" and parts[3] == "shadow":
        thing = parts[2]
        rest = parts[4:]
        shadow_name: str | None = None
        if rest[:1] == ["name"]:
            if len(rest) < 3:
                raise TopicError(f"not a shadow topic: {topic!r}")
            shadow_name, rest = rest[1], rest[2:]
        try:
            op = ShadowOp("/".join(rest))
        except ValueError:
            raise TopicError(f"unknown shadow operation in {topic!r}") from None
        parsed = ParsedTopic(Family.SHADOW, thing=thing, shadow_name=shadow_name, op=op)
        parsed.build()  # validates thing and shadow names
        return parsed
    raise TopicError(f"not a ClassTop topic: {topic!r}")
