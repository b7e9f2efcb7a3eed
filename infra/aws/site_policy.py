"""The IoT policy of a tenant's LMS identities: one policy for every site of the tenant.

An LMS connects with its site certificate and the client id = its thing name ``ct--<tenant>--<stage>--<site>``
(``shared.topics.site_thing_name``). The thing carries the attribute ``site_id`` (set when the site is
enrolled) and is attached to the certificate. AWS evaluates the thing policy variables against the thing named
by the client id, so with ``iot:Connection.Thing.IsAttached`` the policy confines each connection to:

* connect only as ``ct--<tenant>--<stage>--<its site_id attribute>`` (no other tenant's, stage's or site's
  client id);
* publish only on ``ct/<tenant>/<stage>/site/<its site>/up/*``, directly or with Basic Ingest to a rule of the
  tenant's stages (``$aws/rules/classtop__*/ct/<tenant>/<stage>/site/<its site>/up/*``: an IoT policy document
  holds at most 2048 characters, too few for one exact topic per rule; what the wildcard lets through is harmless
  because every rule's ``WHERE`` pins each level of the topic it sees, ``infra/aws/rules.py``);
* subscribe to / receive only ``ct/<tenant>/<stage>/site/<its site>/down/*``;
* use only its own thing's shadows (``$aws/things/ct--<tenant>--<stage>--<its site>/shadow/*``: the agents'
  named shadows, and ``lms:config``, its own configuration's: docs/protocol.md).

IoT policy variables (``${iot:...}``) are escaped for ``Fn::Sub`` as ``${!iot:...}``.
"""

from __future__ import annotations

from infra.aws.cfn import TOKEN_NAMESPACE, Json, sub, tokens_to_sub
from shared import topics
from shared.names import PRODUCT, RULE_SEP

#: the thing attribute holding the site id (set by the cloud when it registers a site's thing)
SITE_ID_ATTRIBUTE = "site_id"
SITE_VAR = f"${{iot:Connection.Thing.Attributes[{SITE_ID_ATTRIBUTE}]}}"
_SITE_TOKEN = "sitetokenxq"
_ARN = "arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}"
#: the rule-name level of the Basic Ingest resource: every rule of the product (``shared.names.rule_name``)
BASIC_INGEST_RULES = f"{PRODUCT}{RULE_SEP}*"


def _topic_pattern(topic: str, tail: str) -> str:
    """Turn a topic built by shared.topics for the placeholder site into a policy resource pattern.

    ``tail`` replaces the last segment(s) the builder fixed (channel or MQTT wildcards) with ``*``.
    """
    text = tokens_to_sub(topic)
    text = text.replace(_SITE_TOKEN, "${!" + SITE_VAR[2:])
    return text.rsplit("/", tail.count("/") + 1)[0] + "/" + tail


def _resource(kind: str, pattern: str) -> Json:
    return sub(f"{_ARN}:{kind}/{pattern}")


def site_policy_document() -> Json:
    """The policy document (with ``Fn::Sub`` strings) of ``AWS::IoT::Policy`` ``SitePolicy``."""
    thing = topics.site_thing_name(TOKEN_NAMESPACE, _SITE_TOKEN)
    up = _topic_pattern(topics.site_up_plain(TOKEN_NAMESPACE, _SITE_TOKEN, topics.SiteUp.HEARTBEAT), "*")
    ingest = f"{topics.BASIC_INGEST_PREFIX}{BASIC_INGEST_RULES}/{up}"
    down = _topic_pattern(topics.site_down(TOKEN_NAMESPACE, _SITE_TOKEN), "*")
    # every operation on every shadow (classic and named) of the connected thing - named from the tenant and
    # the site attribute, so that a thing of another tenant attached by mistake gets none of them
    shadows = _topic_pattern(topics.shadow(thing, topics.ShadowOp.GET), "*")
    client = tokens_to_sub(thing).replace(_SITE_TOKEN, "${!" + SITE_VAR[2:])
    attached = {"Bool": {"iot:Connection.Thing.IsAttached": "true"}}
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ConnectAsOwnSiteThing",
                "Effect": "Allow",
                "Action": "iot:Connect",
                "Resource": _resource("client", client),
                "Condition": attached,
            },
            {
                "Sid": "PublishOwnSiteUp",
                "Effect": "Allow",
                "Action": "iot:Publish",
                "Resource": [_resource("topic", up), _resource("topic", ingest)],
            },
            {
                "Sid": "SubscribeOwnSiteDown",
                "Effect": "Allow",
                "Action": "iot:Subscribe",
                "Resource": _resource("topicfilter", down),
            },
            {
                "Sid": "ReceiveOwnSiteDown",
                "Effect": "Allow",
                "Action": "iot:Receive",
                "Resource": _resource("topic", down),
            },
            {
                "Sid": "UseOwnThingShadows",
                "Effect": "Allow",
                "Action": ["iot:Publish", "iot:Receive"],
                "Resource": _resource("topic", shadows),
            },
            {
                "Sid": "SubscribeOwnThingShadows",
                "Effect": "Allow",
                "Action": "iot:Subscribe",
                "Resource": _resource("topicfilter", shadows),
            },
        ],
    }
