"""Tenants, stages and the names built from them: one grammar, one separator, one place.

A **tenant** is a district; a **stage** is one deployment of its stack (``dev``, ``prod``...). Several tenants
and stages can share one AWS account, so both appear in every name a stack owns — AWS resource names, MQTT
topic prefixes, IoT thing names, IAM and IoT policy resources — and no name, topic filter or policy pattern of
one (tenant, stage) may match anything of another.

That holds because of one rule: tenant and stage are lowercase words of ``a-z 0-9`` joined by single hyphens
(``district-9``, ``prod``), so the separator :data:`SEP` (``--``, which AWS itself uses this way in S3
directory bucket names) never occurs inside either. Reading a name from the left, the tenant ends at the first
``--`` and the stage at the second: ``classtop--a--b-x--agent`` can only be tenant ``a``, stage ``b-x``, and the
pattern ``ct--a--dev--*`` can match nothing of tenant ``a-b`` or stage ``dev-x``. Where ``-`` is not allowed (IoT
rule names: ``[A-Za-z0-9_]``) :data:`RULE_SEP` (``__``) plays the part and a hyphen becomes ``_``. MQTT topics
use ``/``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared.errors import InvalidName

#: a tenant's or a stage's words: a-z 0-9, starting with a letter, single hyphens between words
WORDS_PATTERN = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"
TENANT_MAX = 20
#: bounded so that the longest name (the media bucket, ``classtop--T--S--<12-digit account>``) stays <= 63
STAGE_MAX = 16
SEP = "--"
RULE_SEP = "__"
#: the first part of every AWS resource name of the product
PRODUCT = "classtop"
_WORDS_RE = re.compile(WORDS_PATTERN)
_PART_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
GRAMMAR = "a-z 0-9 and single hyphens, starting with a letter, not ending with a hyphen"


def check_tenant(value: object) -> str:
    return _check(value, "tenant", TENANT_MAX)


def check_stage(value: object) -> str:
    return _check(value, "stage", STAGE_MAX)


def _check(value: object, what: str, limit: int) -> str:
    if not isinstance(value, str) or not value or len(value) > limit or not _WORDS_RE.match(value):
        raise InvalidName(f"invalid {what} {value!r}: use 1-{limit} of {GRAMMAR}")
    return value


@dataclass(frozen=True, slots=True)
class Namespace:
    """One tenant's one stage: what every name of its stack is prefixed with."""

    tenant: str
    stage: str

    def __post_init__(self) -> None:
        check_tenant(self.tenant)
        check_stage(self.stage)

    def __str__(self) -> str:
        return f"{self.tenant}{SEP}{self.stage}"


def resource_name(ns: Namespace, *parts: str) -> str:
    """``classtop--{tenant}--{stage}--{part}--...``: the name of an AWS resource of the namespace's stack."""
    for part in parts:
        if not _PART_RE.match(part) or SEP in part:
            raise InvalidName(f"invalid name part {part!r}")
    return SEP.join((PRODUCT, ns.tenant, ns.stage, *parts))


def stack_name(ns: Namespace) -> str:
    """The tenant stage's CloudFormation stack: ``classtop--{tenant}--{stage}``."""
    return resource_name(ns)


def rule_name(ns: Namespace, rule: str) -> str:
    """An IoT topic rule's name (``[A-Za-z0-9_]`` only): ``classtop__{tenant}__{stage}__{rule}``, ``-`` -> ``_``."""
    if not re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)*", rule):
        raise InvalidName(f"invalid rule name {rule!r}")
    return RULE_SEP.join((PRODUCT, ns.tenant.replace("-", "_"), ns.stage.replace("-", "_"), rule))
