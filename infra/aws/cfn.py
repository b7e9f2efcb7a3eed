"""Small helpers to write CloudFormation in plain Python data (long-form intrinsics only, so that any YAML
loader reads the output) and to turn names built from code into ``Fn::Sub`` strings.

Names are derived from the code that owns them (``Settings.table_name``, ``Rule.sql``...) by calling it with
placeholder tenant and stage values and replacing those with ``${TenantId}`` / ``${Stage}``.
"""

from __future__ import annotations

import re
from typing import Any

#: valid as a tenant (shared.topics.check_tenant) and as a stage (chalicelib.config), and in no real name
TENANT_TOKEN = "tenanttokenxq"
STAGE_TOKEN = "stagetokenxq"

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


def sub_from_tokens(text: str) -> Json | str:
    """``Fn::Sub`` of :func:`tokens_to_sub` when the text holds a placeholder, else the text itself."""
    converted = tokens_to_sub(text)
    return sub(converted) if "${" in converted.replace("${!", "") else text


def logical_id(*parts: str) -> str:
    """CamelCase logical id from snake/kebab parts: ``("site_heartbeat", "rule")`` -> ``SiteHeartbeatRule``."""
    words = [w for part in parts for w in re.split(r"[^A-Za-z0-9]+", part) if w]
    return "".join(w[:1].upper() + w[1:] for w in words)


def tenant_underscored() -> Json:
    """``TenantId`` with ``-`` replaced by ``_`` (IoT rule names allow only ``[a-zA-Z0-9_]``)."""
    return {"Fn::Join": ["_", {"Fn::Split": ["-", ref("TenantId")]}]}


def stage_underscored() -> Json:
    return {"Fn::Join": ["_", {"Fn::Split": ["-", ref("Stage")]}]}


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
