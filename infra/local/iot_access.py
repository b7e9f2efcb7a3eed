"""The IoT Core stand-in's access rules: the site policy the template deploys, as Mosquitto dynamic-security roles.

One source: :func:`site_policy` resolves ``infra.aws.site_policy.site_policy_document()`` (what CloudFormation
deploys as ``SitePolicy``) for the twin's account, region, tenant and stage; the local cloud stores that same
document in moto as the site policy, and :func:`site_acls` asks the project's policy evaluator
(:class:`infra.aws.policy_eval.IotPolicy`) which resources it allows a site's thing, and translates them:

* ``iot:Publish`` on ``topic/X/*`` → ``publishClientSend X/+/#`` (every topic below ``X/``, not ``X`` itself);
* ``iot:Receive`` on ``topic/X/*`` → ``publishClientReceive X/+/#``;
* ``iot:Subscribe`` on ``topicfilter/X/*`` → ``subscribePattern X/#`` (any filter below ``X/``);
* a resource without wildcards → the same topic (``subscribeLiteral`` for a topic filter);
* ``iot:Connect`` must allow ``client/<thing name>``, or the thing gets no access at all.

Anything else (``?``, a ``*`` inside a level, a ``Deny``, a substituted value holding ``+`` or ``#``) raises
:class:`~infra.aws.policy_eval.PolicyEvalError` instead of being guessed.

The broker (``infra/mosquitto/iot-core.conf.tmpl``) takes a client's identity from its certificate
(``use_identity_as_username``: the CN, which is the thing name for a site) and makes it the client id too
(``use_username_as_clientid``). Its dynamic-security file starts as :func:`initial_dynsec_config`: every default
denied, the twin's own IoT Core parts (privileged, as they are inside IoT Core in AWS) and the admin client the
local cloud uses to add and remove sites (:class:`StandInAccess`) at enrolment and revocation.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from edge.lms.enrolment.broker_credentials import DynsecControl
from infra.aws.policy_eval import Connection, IotPolicy, PolicyEvalError, resolve_sub
from infra.aws.site_policy import SITE_ID_ATTRIBUTE, site_policy_document
from infra.local.basic_ingest import RULES_ENGINE_ROLE, expand_rule_level, rules_engine_role, without_basic_ingest
from infra.local.iot_ca import IotCa
from infra.local.mosquitto import BrokerTls, MosquittoProcess
from shared import topics
from shared.mqtt import MqttSettings
from shared.mqtt.settings import TlsSettings
from shared.names import Namespace

log = logging.getLogger(__name__)

#: moto's account and the twin's region (``infra.local.cloud.cloud_environment``)
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
ARN_PREFIX = f"arn:aws:iot:{REGION}:{ACCOUNT_ID}:"

ADMIN_ROLE = "dynsec-admin"
IOT_CORE_ROLE = "iot-core"
SITE_ROLE_PREFIX = "site-"
#: the twin's own IoT Core parts: shadow service + publisher, rules engine; the local cloud's admin client
IOT_CORE_CLIENT = "twin-iot-core"
RULES_CLIENT = "twin-iot-core-rules"
#: the stand-in's lifecycle events (``infra/local/lifecycle_events.py``): reads the broker's notice log
LIFECYCLE_CLIENT = "twin-iot-core-lifecycle"
ADMIN_CLIENT = "twin-iot-core-admin"
#: the twin supervisor's own admin client (privileged observers for tests and benches: Twin.iot_core_client)
SUPERVISOR_CLIENT = "twin-supervisor"

_NOT_FOUND = ("Client not found", "Role not found")
_ACTIONS = (
    ("iot:Publish", "topic", "publishClientSend"),
    ("iot:Receive", "topic", "publishClientReceive"),
    ("iot:Subscribe", "topicfilter", "subscribe"),
)


def site_policy(namespace: Namespace) -> dict[str, Any]:
    """The site policy document as CloudFormation deploys it for ``namespace`` in the twin's account."""
    values = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT_ID,
              "TenantId": namespace.tenant, "Stage": namespace.stage}
    document: dict[str, Any] = resolve_sub(site_policy_document(), values)
    return document


def _filter(pattern: str, *, subscribe: bool) -> tuple[str, bool]:
    """(MQTT topic filter, whether it holds wildcards) for an IoT resource's topic part."""
    wild = [c for c in pattern if c in "*?"]
    if not wild:
        if not subscribe and any(c in pattern for c in "+#"):
            raise PolicyEvalError(f"topic resource {pattern!r}: a topic name holds no + or #")
        return pattern, False
    if wild != ["*"] or not (pattern == "*" or pattern.endswith("/*")):
        raise PolicyEvalError(f"resource {pattern!r}: only a trailing '/*' is translated to an MQTT filter")
    prefix = pattern[:-2] if pattern != "*" else ""
    if any(c in prefix for c in "+#"):
        raise PolicyEvalError(f"resource {pattern!r}: + or # before the wildcard would widen the filter")
    if not prefix:
        return "#", True
    return (f"{prefix}/#" if subscribe else f"{prefix}/+/#"), True


def site_acls(policy: IotPolicy, thing_name: str, attributes: Mapping[str, str]) -> list[dict[str, Any]]:
    """The dynamic-security ACL entries for a certificate attached to ``thing_name`` (with ``attributes``):
    what ``policy`` allows that connection, translated (module docstring). Empty when it may not connect."""
    connection = Connection(client_id=thing_name, thing_name=thing_name, attributes=dict(attributes))
    if not policy.allows("iot:Connect", f"{ARN_PREFIX}client/{thing_name}", connection):
        return []
    acls: list[dict[str, Any]] = []
    for action, kind, acltype in _ACTIONS:
        for resource in policy.allowed_resources(action, connection):
            if not resource.startswith(f"{ARN_PREFIX}{kind}/"):
                continue  # another account's, region's or kind's resource
            pattern = resource[len(ARN_PREFIX) + len(kind) + 1:]
            for each in expand_rule_level(pattern) or [pattern]:  # Basic Ingest's rule level (basic_ingest.py)
                topic, wild = _filter(each, subscribe=kind == "topicfilter")
                used = ("subscribePattern" if wild else "subscribeLiteral") if acltype == "subscribe" else acltype
                entry = {"acltype": used, "topic": topic, "priority": 0, "allow": True}
                if entry not in acls:
                    acls.append(entry)
    return acls


def _everything(acltypes: Iterable[str]) -> list[dict[str, Any]]:
    # `#` does not match `$`-topics (the MQTT rule): `$aws/#` (shadows, lifecycle events) is named as well, and the
    # broker's notice log (what the lifecycle events are made from)
    return [{"acltype": t, "topic": topic, "priority": 0, "allow": True} for t in acltypes
            for topic in ("#", "$aws/#", topics.broker_notice_log(), topics.broker_error_log())]  # fmt: skip


def initial_dynsec_config(privileged: Iterable[str], *, admins: Iterable[str] = (),
                          rules_engines: Iterable[str] = ()) -> dict[str, Any]:  # fmt: skip
    """The stand-in's dynamic-security file before any site is enrolled: every default denied; the admin clients
    (:data:`ADMIN_CLIENT` and ``admins``: ``$CONTROL/dynamic-security/#`` only), the ``privileged`` clients
    (every topic, as IoT Core's own parts, but Basic Ingest's ``$aws/rules/#``, which no subscriber receives) and
    the ``rules_engines`` (every topic). Clients have no password: the broker takes identities from client
    certificates only."""
    admin_acls = [{"acltype": t, "topic": "$CONTROL/dynamic-security/#", "priority": 0, "allow": True}
                  for t in ("publishClientSend", "publishClientReceive", "subscribePattern")]
    clients = [{"username": name, "roles": [{"rolename": ADMIN_ROLE}]} for name in (ADMIN_CLIENT, *admins)]
    clients += [{"username": name, "clientid": name, "roles": [{"rolename": IOT_CORE_ROLE}]} for name in privileged]
    clients += [{"username": name, "clientid": name, "roles": [{"rolename": RULES_ENGINE_ROLE}]}
                for name in rules_engines]
    everything = _everything(("publishClientSend", "publishClientReceive", "subscribePattern"))
    return {
        "defaultACLAccess": {"publishClientSend": False, "publishClientReceive": False, "subscribe": False,
                             "unsubscribe": True},
        "clients": clients,
        "groups": [],
        "roles": [
            {"rolename": ADMIN_ROLE, "acls": admin_acls},
            {"rolename": IOT_CORE_ROLE, "acls": without_basic_ingest(everything)},
            rules_engine_role(everything),
        ],
    }


def site_role(thing_name: str) -> str:
    return f"{SITE_ROLE_PREFIX}{thing_name}"


class StandInAccess:
    """Adds and removes sites' access on the stand-in broker (the local cloud's dynamic-security admin)."""

    def __init__(self, control: DynsecControl, policy: IotPolicy) -> None:
        self._control = control
        self._policy = policy
        self._lock = threading.Lock()

    def grant_site(self, thing_name: str, attributes: Mapping[str, str]) -> list[dict[str, Any]]:
        """(Re)create the thing's client and role with the ACL its policy gives (module docstring); the
        client's current connection, if any, is ended (it reconnects with the new rights)."""
        if SITE_ID_ATTRIBUTE not in attributes:
            log.warning("IoT Core stand-in: thing %s has no %s attribute: the policy grants it nothing", thing_name,
                        SITE_ID_ATTRIBUTE)  # fmt: skip
        acls = site_acls(self._policy, thing_name, attributes)
        role = site_role(thing_name)
        with self._lock:
            self._control.execute([{"command": "deleteClient", "username": thing_name},
                                   {"command": "deleteRole", "rolename": role}], allowed=_NOT_FOUND)
            if acls:
                self._control.execute([
                    {"command": "createRole", "rolename": role, "acls": acls},
                    {"command": "createClient", "username": thing_name, "clientid": thing_name,
                     "roles": [{"rolename": role}]},
                ])  # fmt: skip
        log.info("IoT Core stand-in: %s may use %d topic patterns", thing_name, len(acls))
        return acls

    def revoke_site(self, thing_name: str) -> None:
        """Delete the thing's client and role: the broker disconnects it at once and refuses it everything."""
        with self._lock:
            self._control.execute([{"command": "deleteClient", "username": thing_name},
                                   {"command": "deleteRole", "rolename": site_role(thing_name)}], allowed=_NOT_FOUND)
        log.info("IoT Core stand-in: %s has no access any more", thing_name)


def iot_core_settings(iot_dir: Path, name: str, host: str, port: int, *, session_expiry_s: int = 0) -> MqttSettings:
    """MQTT settings of the identity ``name`` on the stand-in broker: its certificate and key in ``iot_dir``
    (``<name>.crt``/``.key``, issued by :class:`infra.local.iot_ca.IotCa`), the stand-in CA to verify the broker,
    the client id ``name`` (the broker uses the certificate's CN anyway) and a quick reconnect."""
    return MqttSettings(
        host=host, port=port, client_id=name, reconnect_min_s=0.2, reconnect_max_s=2.0,
        session_expiry_s=session_expiry_s,
        tls=TlsSettings(ca_file=iot_dir / "ca.crt", cert_file=iot_dir / f"{name}.crt",
                        key_file=iot_dir / f"{name}.key"),
    )


def stand_in_broker(broker_dir: Path, iot_dir: Path, *, port: int | None = None,
                    names: Iterable[str] = ("127.0.0.1", "localhost")) -> tuple[MosquittoProcess, IotCa]:  # fmt: skip
    """The IoT Core stand-in broker (not started) in ``broker_dir``, fresh (no sites, no sessions of an earlier run),
    and the twin's stand-in CA in ``iot_dir`` (made on first use) with a new server certificate for ``names`` (the
    hosts clients reach it by) and the certificates of the twin's own IoT Core parts and of the supervisor."""
    ca = IotCa(iot_dir)
    server = ca.issue_server(iot_dir, names)
    for name in (IOT_CORE_CLIENT, RULES_CLIENT, LIFECYCLE_CLIENT, ADMIN_CLIENT, SUPERVISOR_CLIENT):
        ca.issue_client(iot_dir, name)
    broker = MosquittoProcess(
        broker_dir, port=port, template="iot-core", tls=BrokerTls(ca.ca_file, server.cert_file, server.key_file),
        dynsec_seed=initial_dynsec_config([IOT_CORE_CLIENT, LIFECYCLE_CLIENT], admins=[SUPERVISOR_CLIENT],
                                          rules_engines=[RULES_CLIENT]),
    )  # fmt: skip
    broker.dynsec_file.unlink(missing_ok=True)
    (broker.data_dir / "mosquitto.db").unlink(missing_ok=True)
    return broker, ca
