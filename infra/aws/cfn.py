"""Small helpers to write CloudFormation in plain Python data (long-form intrinsics only, so that any YAML
loader reads the output) and to turn names built from code into ``Fn::Sub`` strings.

Names are derived from the code that owns them (``Settings.table_name``, ``Rule.sql``...) by calling it with
placeholder tenant and stage values and replacing those with ``${TenantId}`` / ``${Stage}``.
"""

from __future__ import annotations

import re
from typing import Any

from shared.names import Namespace, resource_name

#: valid as a tenant and as a stage (shared.names), and in no real name
TENANT_TOKEN = "tenanttokenxq"
STAGE_TOKEN = "stagetokenxq"
#: the namespace whose names, turned into ``Fn::Sub`` strings, are every tenant stage's names
TOKEN_NAMESPACE = Namespace(TENANT_TOKEN, STAGE_TOKEN)

Json = dict[str, Any]


def ref(name: str) -> Json:
    return {"Ref": name}


def get_att(resource: str, attribute: str) -> Json:
    return {"Fn::GetAtt": [resource, attribute]}


def sub(text: str) -> Json:
    return {"Fn::Sub": text}


def escape_sub(text: str) -> str:
    """Make a literal ``${...}`` (an IoT policy variable) survive ``Fn::Sub``: ``${!...}``."""
    return text.replace("${", "${!")


def tokens_to_sub(text: str) -> str:
    """Replace the placeholder tenant/stage in a name built by the code with ``${TenantId}`` / ``${Stage}``."""
    return escape_sub(text).replace(TENANT_TOKEN, "${TenantId}").replace(STAGE_TOKEN, "${Stage}")


def name_sub(*parts: str) -> Json:
    """``Fn::Sub`` of the resource name ``classtop--${TenantId}--${Stage}--{parts}`` (:func:`resource_name`)."""
    return sub(tokens_to_sub(resource_name(TOKEN_NAMESPACE, *parts)))


def sub_from_tokens(text: str) -> Json | str:
    """``Fn::Sub`` of :func:`tokens_to_sub` when the text holds a placeholder, else the text itself."""
    converted = tokens_to_sub(text)
    return sub(converted) if "${" in converted.replace("${!", "") else text


def logical_id(*parts: str) -> str:
    """CamelCase logical id from snake/kebab parts: ``("site_heartbeat", "rule")`` -> ``SiteHeartbeatRule``."""
    words = [w for part in parts for w in re.split(r"[^A-Za-z0-9]+", part) if w]
    return "".join(w[:1].upper() + w[1:] for w in words)


def underscored(text: str) -> Json:
    """A name holding the placeholder tenant/stage, with ``TenantId``/``Stage`` substituted and their ``-``
    replaced by ``_`` (IoT rule names allow only ``[a-zA-Z0-9_]``): a ``Fn::Join``."""
    parts: list[Any] = []
    for piece in re.split(f"({TENANT_TOKEN}|{STAGE_TOKEN})", text):
        if piece == TENANT_TOKEN:
            parts.append({"Fn::Join": ["_", {"Fn::Split": ["-", ref("TenantId")]}]})
        elif piece == STAGE_TOKEN:
            parts.append({"Fn::Join": ["_", {"Fn::Split": ["-", ref("Stage")]}]})
        elif piece:
            parts.append(piece)
    return {"Fn::Join": ["", parts]}


def instantiate(node: Any, values: dict[str, str]) -> Any:
    """A copy of ``node`` with ``${Name}`` of ``values`` substituted in every ``Fn::Sub`` string; a ``Fn::Sub``
    left without variables becomes a plain string (``${!x}`` -> ``${x}``).

    The deploy tool instantiates the data plane for one tenant: the stack is the same, but every resource name
    is a literal (moto's CloudFormation deletes IoT policies and thing types by their literal name property).
    """
    if isinstance(node, list):
        return [instantiate(item, values) for item in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Fn::Sub"} and isinstance(node["Fn::Sub"], str):
        text = node["Fn::Sub"]
        for name, value in values.items():
            text = text.replace("${" + name + "}", value)
        if "${" not in text.replace("${!", ""):
            return text.replace("${!", "${")
        return {"Fn::Sub": text}
    return {key: instantiate(value, values) for key, value in node.items()}
