"""Writes ``shared/messages/structs.py``: msgspec mirrors of the messages, derived from the pydantic models (the
contract stays defined once, in ``shared.messages``). The agent's configuration mirrors are written by the same
:class:`StructWriter` (``edge/agent/config_struct_writer.py``).

Why: the agent validates with msgspec (a few MB and a few microseconds instead of pydantic's: measured in
edge/agent/README.md#footprint), and so do the cloud's IoT-rule functions (no pydantic in a rule function's cold
start: docs/deploy.md#cold-starts). What is mirrored, from each model's fields: the types (``str``, ``int``,
``float``, ``bool``, ``Literal``, string enums (from the modules of ``enum_homes``), optional, lists, tuples,
string- or enum-keyed maps, nested models, constrained list items), the bounds (``gt``/``ge``/``lt``/``le``,
``min_length``/``max_length``, ``pattern`` with pydantic's end-of-text ``$``), defaults and default factories,
aliases (the mirror reads the alias only), unknown fields refused (or ignored, as the model says), and in
``__post_init__`` what pydantic checks beyond types: floats finite (``allow_inf_nan=False``), free-form JSON
fields bounded (``shared.messages.checks.json_problem``) and each model's validators (``validators``: the same
pydantic-free function the pydantic validator calls). Methods come from pydantic-free mixins both forms inherit
(``mixins``: ``shared.messages.mixins``). A model with a validator or a base this writer does not know is refused,
so a new rule cannot be left out of the mirror silently. ``tests/unit/agent/test_agent_structs.py`` fails when the
committed module is stale and checks that both forms of every mirrored message accept and refuse the same
messages.

Usage: ``python -m shared.messages.struct_writer`` (writes the module, formatted by ``ruff format``).
"""

from __future__ import annotations

import enum
import subprocess
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic.functional_validators import AfterValidator
from pydantic_core import PydanticUndefined

from shared.commands import CATALOGUE, ClassTopData, ClassTopSnapshot, Course, ScheduleEntry
from shared.errors import ErrorCode
from shared.messages import checks, mixins
from shared.messages.agent import DiskUsage, Event, Heartbeat, Metrics, StateData, StateUpdate, Status
from shared.messages.alert import AlertRecord, AlertTarget, SiteAlerts
from shared.messages.base import Message, _bounded
from shared.messages.command import Command, Response
from shared.messages.iot_presence import LifecycleEvent
from shared.messages.retirement import AgentsRetired, RetiredAgentEntry
from shared.messages.site import (
    AgentEvent,
    AgentPresence,
    AgentResult,
    CommandResults,
    SiteEvents,
    SiteHeartbeat,
)
from shared.messages.sync import AgentSnapshots, MetricRollup, MetricRollups, SnapshotEntry
from shared.messages.upgrades import CampaignAgentReport, UpgradeCampaignReport

#: the mirrored messages, in order (a nested model before the models that hold it): the agent's, then the site
#: messages the cloud's IoT-rule functions decode (chalicelib/handlers/rules.py), then IoT Core's lifecycle event
MODELS: tuple[type[BaseModel], ...] = (
    Command, Response, Status, Heartbeat, DiskUsage, Metrics, StateData, StateUpdate, Event,
    Course, ScheduleEntry, ClassTopData, ClassTopSnapshot,
    AgentPresence, SiteHeartbeat, AgentResult, CommandResults, AgentEvent, SiteEvents, SnapshotEntry, AgentSnapshots,
    MetricRollup, MetricRollups, RetiredAgentEntry, AgentsRetired, CampaignAgentReport, UpgradeCampaignReport,
    AlertTarget, AlertRecord, SiteAlerts, LifecycleEvent,
)  # fmt: skip
#: model -> the function of ``shared.messages.checks`` its ``model_validator`` calls returning a problem or None
RULES: dict[type[BaseModel], str] = {Response: checks.response_problem.__name__}
#: (model, validator method) -> the pydantic-free function it calls, which the mirror calls too: a field validator
#: maps the value (``self.f = fn(self.f)`` in ``__post_init__``), a model validator after checks the model
#: (``fn(self)``)
VALIDATORS: dict[tuple[type[BaseModel], str], Any] = {
    (ScheduleEntry, "_weeks"): checks.schedule_weeks,
    (ScheduleEntry, "_order"): checks.schedule_order,
    (ClassTopData, "_references"): checks.classtop_references,
    (AgentResult, "_site_hops"): checks.site_hops,
    (AgentSnapshots, "_unique"): checks.unique_snapshots,
    (MetricRollup, "_aligned"): checks.rollup_aligned,
    (MetricRollups, "_unique"): checks.unique_rollups,
    (AgentsRetired, "_unique"): checks.unique_agents,
    (UpgradeCampaignReport, "_unique"): checks.unique_agents,
    (AlertTarget, "_shape"): checks.alert_target_shape,
}
#: the classes a mirrored message inherits besides ``BaseModel`` (methods and properties only)
MIXINS = frozenset({mixins.SnapshotOrder, mixins.TargetKey, mixins.LifecycleReading})
#: the modules the mirrors may take enums from: they import no pydantic (tested)
ENUM_HOMES = frozenset({"shared.errors", "shared.messages.enums"})
ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / "shared" / "messages" / "structs.py"

HEADER = '''"""msgspec mirrors of the messages. GENERATED by ``python -m shared.messages.struct_writer`` from the
pydantic models of ``shared.messages``: do not edit (tests/unit/agent/test_agent_structs.py fails when stale).

The agent and the cloud's IoT-rule functions decode and build with these, without pydantic. A struct built
directly is not checked: make one with :func:`build` (or decode one with :func:`decode`), which validate like the
pydantic models do."""

# ruff: noqa: E501

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from shared.errors import ErrorCode
{imports}from shared.messages.struct_support import as_dict as as_dict
from shared.messages.struct_support import bounded as _bounded
from shared.messages.struct_support import build as build
from shared.messages.struct_support import decode as decode
from shared.messages.struct_support import encode as encode
from shared.messages.struct_support import finite as _finite
from shared.messages.struct_support import rule as _rule
from shared.messages.struct_support import validate as validate

def response_ok(request_id: str, data: Any = None) -> Response:
    """``shared.messages.Response.ok``."""
    return build(Response, request_id=request_id, success=True, data=data)


def response_fail(request_id: str, code: ErrorCode, error: str, data: Any = None) -> Response:
    """``shared.messages.Response.fail`` (``error`` cut to its 4,096 characters)."""
    return build(Response, request_id=request_id, success=False, error=error[:4096], error_code=code, data=data)
'''


class UnsupportedModel(Exception):
    """A model, field type or validator this writer cannot mirror."""


def _pattern(pattern: str) -> str:
    """pydantic's ``$`` (Rust regex) is the end of the text; Python's also matches before a final newline."""
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        return pattern[:-1] + "\\Z"
    return pattern


def _floats(tp: Any) -> bool:
    """Whether a value of ``tp`` may be a float (checked finite); containers other than tuples are not."""
    if tp is float:
        return True
    origin = typing.get_origin(tp)
    return origin in (typing.Union, types.UnionType) and float in typing.get_args(tp)


def _metadata(items: Any) -> list[Any]:
    """Constraint objects, a pydantic ``Field(...)`` inside ``Annotated`` opened into its own."""
    out: list[Any] = []
    for m in items:
        out += m.metadata if isinstance(m, FieldInfo) else [m]
    return out


def _meta(metadata: list[Any], where: str, bounded: bool) -> tuple[dict[str, Any], bool]:
    """msgspec ``Meta`` keywords of ``metadata``, and whether it bounds a free-form JSON value (allowed only where
    ``bounded``: a field, whose ``__post_init__`` checks it)."""
    meta: dict[str, Any] = {}
    found = False
    for m in metadata:
        if isinstance(m, Gt | Ge | Lt | Le):
            key = type(m).__name__.lower()
            meta[key] = getattr(m, key)
        elif isinstance(m, MinLen | MaxLen):
            key = "min_length" if isinstance(m, MinLen) else "max_length"
            meta[key] = getattr(m, key)
        elif getattr(m, "pattern", None) is not None:
            meta["pattern"] = _pattern(m.pattern)
        elif isinstance(m, AfterValidator) and m.func is _bounded and bounded:
            found = True
        else:
            raise UnsupportedModel(f"{where}: constraint {m!r} is not mirrored")
    return meta, found


def _bound(meta: dict[str, Any]) -> str:
    return f"Meta({', '.join(f'{k}={v!r}' for k, v in meta.items())})"


@dataclass
class StructWriter:
    """Renders msgspec mirrors of ``models`` (a nested model before the models that hold it)."""

    models: tuple[type[BaseModel], ...]
    validators: dict[tuple[type[BaseModel], str], Any]
    mixins: frozenset[type]
    enum_homes: frozenset[str]
    rules: dict[type[BaseModel], str] = field(default_factory=dict)
    #: the model whose validator may run before validation (the root of a configuration)
    root: type[BaseModel] | None = None
    #: filled by :meth:`render_structs`: the enums and validator functions the mirrors use, the root's rules before
    enums: set[type[enum.Enum]] = field(default_factory=set)
    called: set[Any] = field(default_factory=set)
    before: list[Any] = field(default_factory=list)

    def render_structs(self) -> str:
        """The classes, separated as ``ruff format`` leaves them."""
        self.enums.clear()
        self.called.clear()
        self.before.clear()
        return "\n\n\n".join(self._struct(m) for m in self.models)

    def used_mixins(self) -> list[type]:
        return [m for m in self.mixins if any(m in c.__mro__ for c in self.models)]

    def _type(self, tp: Any, model: str, nested: bool = False) -> str:
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if tp is Any:
            return "Any"
        if origin is typing.Annotated:
            # a field's own metadata is taken by _field; inside a container it is the items' (a list's patterns)
            meta, _ = _meta(_metadata(args[1:]), model, bounded=not nested)
            inner = self._type(args[0], model, nested)
            return f"Annotated[{inner}, {_bound(meta)}]" if meta and nested else inner
        if tp is Path:
            return "Path"
        if tp is SecretStr:
            return "Secret"
        if tp in (str, int, float, bool):
            return str(tp.__name__)
        if tp is type(None):
            return "None"
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            if tp.__module__ not in self.enum_homes:
                raise UnsupportedModel(f"{model}: enum {tp.__name__} is not in a module of enum_homes")
            self.enums.add(tp)
            return tp.__name__
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if tp not in self.models:
                raise UnsupportedModel(f"{model}: nested model {tp.__name__} is not in MODELS")
            return str(tp.__name__)
        if origin is typing.Literal:
            return f"Literal[{', '.join(repr(a) for a in args)}]"
        if origin in (typing.Union, types.UnionType):
            return " | ".join(self._type(a, model, nested) for a in args)
        if origin is list:
            return f"list[{self._type(args[0], model, True)}]"
        if origin is tuple:
            return f"tuple[{', '.join(self._type(a, model, True) for a in args)}]"
        if origin is dict:
            return f"dict[{self._type(args[0], model, True)}, {self._type(args[1], model, True)}]"
        raise UnsupportedModel(f"{model}: field type {tp!r} is not mirrored")

    def _field(self, name: str, info: Any, model: str, finite: bool = True) -> tuple[str, list[str]]:
        """The field's line, and its checks for ``__post_init__``."""
        post: list[str] = []
        inner = [  # metadata of an optional field's annotated part (``JsonObject | None``)
            m for a in typing.get_args(info.annotation) if typing.get_origin(a) is typing.Annotated
            for m in _metadata(a.__metadata__)
        ]  # fmt: skip
        meta, bounded = _meta([*info.metadata, *inner], f"{model}.{name}", bounded=True)
        if bounded:
            post.append(f"_bounded({name!r}, self.{name})")
        tp = info.annotation
        text = self._type(tp, model)
        if meta:  # on the non-None part of an optional field, as pydantic applies it
            union = typing.get_origin(tp) in (typing.Union, types.UnionType)
            parts = list(typing.get_args(tp)) if union else [tp]
            text = " | ".join("None" if a is type(None) else f"Annotated[{self._type(a, model)}, {_bound(meta)}]"
                              for a in parts)  # fmt: skip
        if not finite:  # pydantic's allow_inf_nan: the bounds refuse what they refuse
            pass
        elif _floats(tp):
            post.append(f"_finite({name!r}, self.{name})")
        elif typing.get_origin(tp) is tuple and float in typing.get_args(tp):
            post.append(f"for x in self.{name} or ():\n            _finite({name!r}, x)")
        elif typing.get_origin(tp) in (typing.Union, types.UnionType):
            for a in typing.get_args(tp):
                if typing.get_origin(a) is tuple and float in typing.get_args(a):
                    post.append(f"for x in self.{name} or ():\n            _finite({name!r}, x)")
        if info.default_factory is not None:
            default = f"default_factory={info.default_factory.__name__}"
        elif info.default is PydanticUndefined:
            default = ""
        else:
            value = info.default
            if isinstance(value, enum.Enum):
                default = f"{type(value).__name__}.{value.name}"
            elif isinstance(value, Path):
                default = f"Path({str(value)!r})"
            else:
                default = repr(value)
        if info.alias and info.alias != name:  # the wire's name (the mirror reads it only)
            keywords = ([default if default.startswith("default_factory") else f"default={default}"] if default
                        else []) + [f"name={info.alias!r}"]  # fmt: skip
            return f"    {name}: {text} = msgspec.field({', '.join(keywords)})", post
        if default.startswith("default_factory"):
            return f"    {name}: {text} = msgspec.field({default})", post
        return f"    {name}: {text}{' = ' + default if default else ''}", post

    def _validator(self, model: type[BaseModel], name: str) -> Any:
        """The function of ``validators`` for ``model``'s validator ``name`` (maybe inherited), or None."""
        for cls in model.__mro__:
            if (cls, name) in self.validators:
                return self.validators[(cls, name)]
        return None

    def _struct(self, model: type[BaseModel]) -> str:
        name = model.__name__
        decorators = model.__pydantic_decorators__
        if decorators.validators or decorators.root_validators:
            raise UnsupportedModel(f"{name}: v1 validators are not mirrored")
        extra = model.model_config.get("extra")
        if extra not in ("forbid", "ignore"):
            raise UnsupportedModel(f"{name}: only models that forbid or ignore unknown fields are mirrored")
        post: list[str] = []  # field validators, the fields' checks, then model validators (pydantic's order)
        after: list[str] = []
        for vname, dec in decorators.field_validators.items():
            fn = self._validator(model, vname)
            if fn is None or dec.info.mode != "after":
                raise UnsupportedModel(f"{name}.{vname}: field validators are mirrored only with a function in "
                                       "VALIDATORS")  # fmt: skip
            self.called.add(fn)
            post += [f"self.{f} = {fn.__name__}(self.{f})" for f in dec.info.fields]
        for vname, mdec in decorators.model_validators.items():
            if vname == "_no_booleans_for_numbers":
                continue  # msgspec refuses a boolean for a number itself
            fn = self._validator(model, vname)
            if fn is None and model in self.rules and mdec.info.mode == "after":
                continue  # a message rule: _rule(...) below
            if fn is None:
                raise UnsupportedModel(f"{name}.{vname}: a model validator without its function in VALIDATORS or "
                                       "RULES")  # fmt: skip
            self.called.add(fn)
            if mdec.info.mode == "after":
                after.append(f"{fn.__name__}(self)")
            elif mdec.info.mode == "before" and model is self.root:
                self.before.append(fn)
            else:
                raise UnsupportedModel(f"{name}.{vname}: only the root model's validator may run before")
        foreign = [b for b in model.__mro__[1:]
                   if b not in self.mixins and not issubclass(b, BaseModel) and b is not object]  # fmt: skip
        if foreign:
            raise UnsupportedModel(f"{name}: inherits {foreign[0].__name__}, not in MIXINS")
        bases = "".join(f"{b.__name__}, " for b in model.__mro__[1:] if b in self.mixins)
        options = ", forbid_unknown_fields=True" if extra == "forbid" else ""
        lines = [f"class {name}({bases}msgspec.Struct, kw_only=True{options}):"]
        doc = (model.__doc__ or "").strip().splitlines()
        lines.append(f'    """Mirror of ``{model.__module__}.{name}``{": " + doc[0] if doc else "."}"""')
        lines.append("")
        finite = model.model_config.get("allow_inf_nan") is False or issubclass(model, Message)
        for field_name, info in model.model_fields.items():
            line, checks_ = self._field(field_name, info, name, finite)
            lines.append(line)
            post += checks_
        post += after
        if model in self.rules:
            post.append(f"_rule({self.rules[model]}(self))")
        if post:
            lines += ["", "    def __post_init__(self) -> None:", *(f"        {p}" for p in post)]
        return "\n".join(lines)


def imports(names: list[Any]) -> str:
    """``from module import a, b`` lines for the enums, classes and functions ``names``."""
    homes: dict[str, list[str]] = {}
    for n in names:
        homes.setdefault(n.__module__, []).append(n.__name__)
    return "".join(f"from {home} import {', '.join(sorted(got))}\n" for home, got in sorted(homes.items()))


WRITER = StructWriter(MODELS, VALIDATORS, MIXINS, ENUM_HOMES, RULES)


def render() -> str:
    """The text of ``shared/messages/structs.py``."""
    for model in MODELS:
        if not issubclass(model, Message) and model.model_config.get("extra") not in ("forbid", "ignore"):
            raise UnsupportedModel(f"{model.__name__}: not a message")
    body = WRITER.render_structs()
    if any(fn.__module__ != checks.__name__ for fn in WRITER.called):
        raise UnsupportedModel("a message's validator calls a function outside shared.messages.checks")
    if any(m.__module__ != mixins.__name__ for m in WRITER.mixins):
        raise UnsupportedModel("a message's mixin is outside shared.messages.mixins")
    called = [getattr(checks, n) for n in RULES.values()] + list(WRITER.called)
    names = [*{*called}, *[e for e in WRITER.enums if e is not ErrorCode], *WRITER.used_mixins()]
    categories = "".join(f"    {n!r}: {s.category.value!r},\n" for n, s in CATALOGUE.items())
    body += (
        "\n\n\n#: every command of ``shared.commands.CATALOGUE`` and its category (no parameter model loaded)"
        f"\nCOMMAND_CATEGORIES: dict[str, str] = {{\n{categories}}}"
    )
    helpers = ["COMMAND_CATEGORIES", "as_dict", "build", "decode", "encode", "response_fail", "response_ok", "validate"]
    public = sorted([m.__name__ for m in MODELS] + helpers, key=lambda n: (not n.isupper(), not n[0].isupper(), n))
    quoted = ", ".join(f'"{n}"' for n in public)
    return HEADER.format(imports=imports(names)) + "\n\n" + body + f"\n\n\n__all__ = [{quoted}]\n"


def formatted(text: str | None = None, target: Path = TARGET) -> str:
    """``text`` (default :func:`render`'s) as ``ruff format`` leaves it (formatted like every other file)."""
    ruff = Path(sys.executable).with_name("ruff")
    done = subprocess.run(
        [str(ruff) if ruff.exists() else "ruff", "format", "--stdin-filename", str(target.relative_to(ROOT)), "-"],
        input=render() if text is None else text, capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    return done.stdout


def main() -> int:
    TARGET.write_text(formatted())
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
