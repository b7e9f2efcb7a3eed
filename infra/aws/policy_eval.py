"""A small evaluator of AWS IoT Core policies, to check the site policy against the topics the LMS uses.

It covers what the project's policies use: ``Allow``/``Deny`` statements, ``Action`` and ``Resource`` lists
with ``*``/``?`` wildcards (``*`` crosses ``/``, as in IoT resource ARNs), the policy variables
``${iot:ClientId}``, ``${iot:Connection.Thing.ThingName}``, ``${iot:Connection.Thing.ThingTypeName}`` and
``${iot:Connection.Thing.Attributes[name]}``, and ``Bool``/``StringEquals``/``StringLike`` conditions on
``iot:ClientId`` and ``iot:Connection.Thing.IsAttached``. Anything else raises :class:`PolicyEvalError`
rather than being guessed.

As in AWS: thing variables resolve only when the connection's client id names a thing attached to the
principal; a statement whose resource holds a variable that does not resolve matches nothing; an explicit
``Deny`` wins; nothing is allowed unless a statement allows it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_VAR_RE = re.compile(r"\$\{([^}]*)\}")


class PolicyEvalError(ValueError):
    """The policy uses something this evaluator does not model, or a template value is unresolved."""


@dataclass(frozen=True, slots=True)
class Connection:
    """An MQTT connection: its client id and the registry thing attached to its certificate (if any)."""

    client_id: str
    thing_name: str | None = None
    thing_type: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)

    @property
    def thing_resolved(self) -> bool:
        return self.thing_name is not None and self.thing_name == self.client_id

    def variable(self, name: str) -> str | None:
        if name == "iot:ClientId":
            return self.client_id
        if not name.startswith("iot:Connection.Thing."):
            raise PolicyEvalError(f"policy variable ${{{name}}} is not modelled")
        if not self.thing_resolved:
            return None
        key = name[len("iot:Connection.Thing."):]
        if key == "ThingName":
            return self.thing_name
        if key == "ThingTypeName":
            return self.thing_type
        if key == "IsAttached":
            return "true"
        match = re.fullmatch(r"Attributes\[([A-Za-z0-9_.,@/:#-]+)\]", key)
        if match:
            return self.attributes.get(match.group(1))
        raise PolicyEvalError(f"policy variable ${{{name}}} is not modelled")


def resolve_sub(node: Any, values: Mapping[str, str]) -> Any:
    """Resolve every ``Fn::Sub`` string and ``Ref`` of a template fragment with ``values`` (parameters and pseudo
    parameters); ``${!x}`` becomes the literal ``${x}``. Raise on a variable or intrinsic without a value."""
    if isinstance(node, list):
        return [resolve_sub(item, values) for item in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Fn::Sub"}:
        text = node["Fn::Sub"]
        if not isinstance(text, str):
            raise PolicyEvalError("only the one-string form of Fn::Sub is resolved here")

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name not in values:
                raise PolicyEvalError(f"no value for ${{{name}}} in {text!r}")
            return values[name]

        return _VAR_RE.sub(replace, text)
    if set(node) == {"Ref"} and node["Ref"] in values:
        return values[node["Ref"]]
    if any(key.startswith("Fn::") or key == "Ref" for key in node):
        raise PolicyEvalError(f"unresolved intrinsic {sorted(node)} in a policy document")
    return {key: resolve_sub(value, values) for key, value in node.items()}


def _glob(pattern: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    parts = []
    for char in pattern:
        if char == "*":
            parts.append(".*")
        elif char == "?":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


class IotPolicy:
    """A resolved IoT policy document (no CloudFormation intrinsics left)."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        statements = document.get("Statement")
        if not isinstance(statements, list) or not statements:
            raise PolicyEvalError("a policy needs a non-empty Statement list")
        for statement in statements:
            if statement.get("Effect") not in ("Allow", "Deny"):
                raise PolicyEvalError(f"statement {statement.get('Sid')}: Effect must be Allow or Deny")
            if "NotAction" in statement or "NotResource" in statement:
                raise PolicyEvalError("NotAction/NotResource are not modelled")
        self._statements = statements

    def allows(self, action: str, resource: str, connection: Connection) -> bool:
        allowed = False
        for statement in self._statements:
            if not self._matches(statement, action, resource, connection):
                continue
            if statement["Effect"] == "Deny":
                return False
            allowed = True
        return allowed

    def allowed_resources(self, action: str, connection: Connection) -> list[str]:
        """The resource patterns (variables substituted for ``connection``) that allow ``action`` to it: what a
        broker without IoT policies enforces in their place (the local twin's IoT Core stand-in). Raises
        :class:`PolicyEvalError` when a ``Deny`` statement names the action (not translated)."""
        found: list[str] = []
        for statement in self._statements:
            if not any(_glob(a, ignore_case=True).fullmatch(action) for a in _as_list(statement["Action"])):
                continue
            if statement["Effect"] == "Deny":
                raise PolicyEvalError(f"statement {statement.get('Sid')}: a Deny of {action} is not translated")
            if not self._condition(statement.get("Condition", {}), connection):
                continue
            for pattern in _as_list(statement["Resource"]):
                substituted = self._substitute(pattern, connection)
                if substituted is not None and substituted not in found:
                    found.append(substituted)
        return found

    def _matches(self, statement: Mapping[str, Any], action: str, resource: str, connection: Connection) -> bool:
        if not any(_glob(a, ignore_case=True).fullmatch(action) for a in _as_list(statement["Action"])):
            return False
        if not self._condition(statement.get("Condition", {}), connection):
            return False
        for pattern in _as_list(statement["Resource"]):
            substituted = self._substitute(pattern, connection)
            if substituted is not None and _glob(substituted).fullmatch(resource):
                return True
        return False

    @staticmethod
    def _substitute(pattern: str, connection: Connection) -> str | None:
        unresolved = False

        def replace(match: re.Match[str]) -> str:
            nonlocal unresolved
            value = connection.variable(match.group(1))
            if value is None:
                unresolved = True
                return ""
            return value

        text = _VAR_RE.sub(replace, pattern)
        return None if unresolved else text

    @staticmethod
    def _condition(condition: Mapping[str, Any], connection: Connection) -> bool:
        for operator, tests in condition.items():
            for key, expected in tests.items():
                if key == "iot:Connection.Thing.IsAttached":
                    actual = "true" if connection.thing_resolved else "false"
                elif key == "iot:ClientId":
                    actual = connection.client_id
                else:
                    raise PolicyEvalError(f"condition key {key} is not modelled")
                values = [str(v).lower() if operator == "Bool" else str(v) for v in _as_list(expected)]
                if operator in ("Bool", "StringEquals"):
                    ok = actual in values
                elif operator == "StringLike":
                    ok = any(_glob(v).fullmatch(actual) for v in values)
                else:
                    raise PolicyEvalError(f"condition operator {operator} is not modelled")
                if not ok:
                    return False
        return True
