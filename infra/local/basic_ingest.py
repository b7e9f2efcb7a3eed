"""AWS IoT Basic Ingest on the IoT Core stand-in broker.

In AWS a message on ``$aws/rules/<rule name>/<topic>`` goes to that rule only: no subscriber receives it, and the
rule sees ``<topic>``. The stand-in is a Mosquitto broker with the rules engine as a client
(``infra/local/rules_engine.py``), so:

* only the rules engine's role may subscribe to and receive ``$aws/rules/#`` (:func:`rules_engine_role`); the twin's
  other privileged parts and observers get every topic but those (:func:`without_basic_ingest`);
* the site policy's Basic Ingest resource, ``$aws/rules/classtop__*/ct/<tenant>/<stage>/site/<site>/up/*`` (a
  ``*`` inside the rule-name level, which no MQTT ACL can say), is expanded to the literal rule names of that
  tenant's stage that the wildcard matches (:func:`expand_rule_level`).
"""

from __future__ import annotations

import fnmatch
from typing import Any

from infra.aws.rules import RULES
from shared.errors import SharedError
from shared.names import Namespace
from shared.topics import BASIC_INGEST_PREFIX

RULES_ENGINE_ROLE = "iot-core-rules"
_RECEIVING = ("subscribePattern", "publishClientReceive")


def without_basic_ingest(acls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``acls`` with ``$aws/rules/#`` denied to subscribe and receive (ahead of everything else)."""
    denied = [{"acltype": t, "topic": f"{BASIC_INGEST_PREFIX}#", "priority": 10, "allow": False} for t in _RECEIVING]
    return [*denied, *acls]


def rules_engine_role(acls: list[dict[str, Any]]) -> dict[str, Any]:
    """The rules engine's role: ``acls`` (every topic), Basic Ingest's included."""
    return {"rolename": RULES_ENGINE_ROLE, "acls": acls}


def expand_rule_level(pattern: str) -> list[str] | None:
    """The topic patterns a Basic Ingest resource ``$aws/rules/<glob>/<rest>`` stands for: ``<glob>`` replaced by each
    name of the rules of the stage ``<rest>`` names (``ct/<tenant>/<stage>/...``) that it matches. ``None`` when
    ``pattern`` is no Basic Ingest resource with a wildcard in its rule level."""
    if not pattern.startswith(BASIC_INGEST_PREFIX):
        return None
    glob, _, rest = pattern[len(BASIC_INGEST_PREFIX) :].partition("/")
    if "*" not in glob or "?" in glob:
        return None
    levels = rest.split("/")
    if len(levels) < 3:
        return []
    try:
        namespace = Namespace(levels[1], levels[2])
    except SharedError:
        return []
    names = [rule.full_name(namespace) for rule in RULES]
    return [f"{BASIC_INGEST_PREFIX}{name}/{rest}" for name in names if fnmatch.fnmatchcase(name, glob)]
