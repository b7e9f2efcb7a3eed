"""Writes ``edge/agent/structs.py``: msgspec mirrors of the messages the agent sends and receives, derived from
the pydantic models (the contract stays defined once, in ``shared.messages``).

Why: the agent validates with msgspec (a few MB and a few microseconds instead of pydantic's: measured in
edge/agent/README.md#footprint). What is mirrored, from each model's fields: the types (``str``, ``int``,
``float``, ``bool``, ``Literal``, string enums (from the modules of :data:`ENUM_HOMES`), optional, lists, tuples,
string maps, nested models), the bounds (``gt``/``ge``/``lt``/``le``, ``min_length``/``max_length``, ``pattern`` with
pydantic's end-of-text ``$``), defaults and default factories, unknown fields refused, and in ``__post_init__``
what pydantic checks beyond types: floats finite (``allow_inf_nan=False``), free-form JSON fields bounded
(``shared.messages.checks.json_problem``) and each model's rule across fields (:data:`RULES`, the same function
the pydantic validator calls). A model with a validator this writer does not know is refused, so a new rule
cannot be left out of the mirror silently. ``tests/unit/agent/test_agent_structs.py`` fails when the committed
module is stale and checks that both accept and refuse the same messages.

Usage: ``python -m edge.agent.struct_writer`` (writes the module, formatted by ``ruff format``).
"""

from __future__ import annotations

import enum
import subprocess
import sys
import types
import typing
from pathlib import Path
from typing import Any

from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from pydantic import BaseModel, SecretStr
from pydantic.functional_validators import AfterValidator
from pydantic_core import PydanticUndefined

from edge.agent import config_checks, config_models
from edge.agent.struct_support import config_dec_hook, config_enc_hook
from shared.commands import CATALOGUE, ClassTopData, ClassTopSnapshot, Course, ScheduleEntry
from shared.config_file import Secret
from shared.errors import ErrorCode
from shared.messages import checks
from shared.messages.agent import DiskUsage, Event, Heartbeat, Metrics, StateData, StateUpdate, Status
from shared.messages.base import Message, _bounded
from shared.messages.command import Command, Response
from shared.mqtt import checks as mqtt_checks
from shared.mqtt.settings import MqttSettings, TlsSettings

#: the mirrored models, in order (a nested model before the models that hold it)
MODELS: tuple[type[BaseModel], ...] = (
    Command, Response, Status, Heartbeat, DiskUsage, Metrics, StateData, StateUpdate, Event,
    Course, ScheduleEntry, ClassTopData, ClassTopSnapshot,
)  # fmt: skip
#: model -> the function of ``shared.messages.checks`` its ``model_validator`` calls (the mirror calls it too)
RULES: dict[type[BaseModel], str] = {Response: checks.response_problem.__name__}
#: the agent's configuration, mirrored into ``edge/agent/config_structs.py`` (nested models first)
CONFIG_MODELS: tuple[type[BaseModel], ...] = (
    TlsSettings, MqttSettings, config_models.ExecPolicy, config_models.LogSettings, config_models.CameraSettings,
    config_models.OutboxSettings, config_models.ClassTopSettings, config_models.SimulatedDiskSettings,
    config_models.EventSpoolSettings, config_models.ProcessSettings, config_models.UpgradeSettings,
    config_models.EnrolmentSettings, config_models.AgentConfig,
)  # fmt: skip
#: (model, validator method) -> the pydantic-free function it calls, which the mirror calls too: a field validator
#: maps the value (``self.f = fn(self.f)`` in ``__post_init__``), a model validator after checks the model
#: (``fn(self)``), one before (only on the root model) maps the raw data and the environment (``load``)
VALIDATORS: dict[tuple[type[BaseModel], str], Any] = {
    (ScheduleEntry, "_weeks"): checks.schedule_weeks,
    (ScheduleEntry, "_order"): checks.schedule_order,
    (ClassTopData, "_references"): checks.classtop_references,
    (TlsSettings, "_pair"): mqtt_checks.tls_pair,
    (MqttSettings, "_bounds"): mqtt_checks.reconnect_bounds,
    (config_models.ExecPolicy, "_entries"): config_checks.allowlist_entries,
    (config_models.ExecPolicy, "_env_entries"): config_checks.env_allowlist_entries,
    (config_models.ProcessSettings, "_rare"): config_checks.rare_process_scans,
    (config_models.UpgradeSettings, "_absolute"): config_checks.absolute_upgrade_root,
    (config_models.UpgradeSettings, "_key"): config_checks.valid_release_public_key,
    (config_models.EnrolmentSettings, "_tls_on_the_lan"): config_checks.tls_on_the_lan,
    (config_models.EnrolmentSettings, "_normalised"): config_checks.normalised_ca_hash,
    (config_models.AgentConfig, "_agent_id"): config_checks.valid_agent_id,
    (config_models.AgentConfig, "_mqtt_defaults"): config_checks.mqtt_defaults,
    (config_models.AgentConfig, "_no_password_in_clear_on_the_lan"): config_checks.no_password_in_clear_on_the_lan,
}
#: classes a mirrored model inherits besides ``BaseModel`` (methods and properties only): the mirror inherits them
MIXINS = frozenset({config_checks.AgentPaths})
CONFIG_TARGET = Path(__file__).resolve().parent / "config_structs.py"
#: the modules the mirrors may take enums from: they import no pydantic (tested)
ENUM_HOMES = frozenset({"shared.errors", "shared.messages.enums", "edge.agent.config_checks"})
#: the enums the mirrors use (filled by :func:`render`)
ENUMS: set[type[enum.Enum]] = set()
ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / "edge" / "agent" / "structs.py"

HEADER = '''"""msgspec mirrors of the agent's messages. GENERATED by ``python -m edge.agent.struct_writer``
from the pydantic models of ``shared.messages``: do not edit (tests/unit/agent/test_agent_structs.py fails when
stale).

A struct built directly is not checked: make one with :func:`build` (or decode one with :func:`decode`), which
validate like the pydantic models do."""

# ruff: noqa: E501

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from edge.agent.struct_support import as_dict as as_dict
from edge.agent.struct_support import bounded as _bounded
from edge.agent.struct_support import build as build
from edge.agent.struct_support import decode as decode
from edge.agent.struct_support import encode as encode
from edge.agent.struct_support import finite as _finite
from edge.agent.struct_support import rule as _rule
from edge.agent.struct_support import validate as validate
from shared.errors import ErrorCode
from shared.messages.checks import {rules}
{enums}

def response_ok(request_id: str, data: Any = None) -> Response:
    """``shared.messages.Response.ok``."""
    return build(Response, request_id=request_id, success=True, data=data)


def response_fail(request_id: str, code: ErrorCode, error: str, data: Any = None) -> Response:
    """``shared.messages.Response.fail`` (``error`` cut to its 4,096 characters)."""
    return build(Response, request_id=request_id, success=False, error=error[:4096], error_code=code, data=data)
'''


CONFIG_HEADER = '''"""msgspec mirrors of the agent's configuration. GENERATED by ``python -m edge.agent.struct_writer``
from the pydantic models of ``edge/agent/config_models.py`` and ``shared.mqtt.settings``: do not edit
(tests/unit/agent/test_agent_structs.py fails when stale).

:func:`load` checks a configuration table as those models do, calling the same rules, without pydantic; the
loader (``edge.agent.config``) asks the pydantic models for the error message of a table it refuses."""

# ruff: noqa: E501

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

{imports}

def load(data: Any, env: Mapping[str, str] | None = None) -> {root}:
    """``data`` (a parsed TOML table) as a ``{root}``: ``msgspec.ValidationError`` or ``ValueError`` when refused."""
    return msgspec.convert({before}, {root}, dec_hook=config_dec_hook)


def from_model(model: Any) -> {root}:
    """A valid pydantic ``{root}`` as its mirror (its rule before validation already applied)."""
    return msgspec.convert(model.model_dump(), {root}, dec_hook=config_dec_hook)


def dump_json(config: msgspec.Struct) -> bytes:
    """Compact JSON as pydantic's ``model_dump_json`` writes it (secrets masked)."""
    return msgspec.json.encode(config, enc_hook=config_enc_hook)
'''
#: the validator functions the mirrors call (filled by :func:`_struct`), and the root's rules before validation
CALLED: set[Any] = set()
BEFORE: list[Any] = []


class UnsupportedModel(Exception):
    """A model, field type or validator this writer cannot mirror."""


def _pattern(pattern: str) -> str:
    """pydantic's ``$`` (Rust regex) is the end of the text; Python's also matches before a final newline."""
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        return pattern[:-1] + "\\Z"
    return pattern


def _type(tp: Any, model: str) -> str:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return "Any"
    if origin is typing.Annotated:  # metadata inside an optional field: taken by _field
        return _type(args[0], model)
    if tp is Path:
        return "Path"
    if tp is SecretStr:
        return "Secret"
    if tp in (str, int, float, bool):
        return str(tp.__name__)
    if tp is type(None):
        return "None"
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        if tp.__module__ not in ENUM_HOMES:
            raise UnsupportedModel(f"{model}: enum {tp.__name__} is not in a module of ENUM_HOMES")
        ENUMS.add(tp)
        return tp.__name__
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        if tp not in MODELS and tp not in CONFIG_MODELS:
            raise UnsupportedModel(f"{model}: nested model {tp.__name__} is not in MODELS")
        return str(tp.__name__)
    if origin is typing.Literal:
        return f"Literal[{', '.join(repr(a) for a in args)}]"
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type(a, model) for a in args)
    if origin is list:
        return f"list[{_type(args[0], model)}]"
    if origin is tuple:
        return f"tuple[{', '.join(_type(a, model) for a in args)}]"
    if origin is dict:
        return f"dict[{_type(args[0], model)}, {_type(args[1], model)}]"
    raise UnsupportedModel(f"{model}: field type {tp!r} is not mirrored")


def _floats(tp: Any) -> bool:
    """Whether a value of ``tp`` may be a float (checked finite); containers other than tuples are not."""
    if tp is float:
        return True
    origin = typing.get_origin(tp)
    return origin in (typing.Union, types.UnionType) and float in typing.get_args(tp)


def _field(name: str, info: Any, model: str, finite: bool = True) -> tuple[str, list[str]]:
    """The field's line, and its checks for ``__post_init__``."""
    meta: dict[str, Any] = {}
    post: list[str] = []
    inner = [  # metadata of an optional field's annotated part (``JsonObject | None``)
        m for a in typing.get_args(info.annotation) if typing.get_origin(a) is typing.Annotated
        for m in a.__metadata__
    ]  # fmt: skip
    for m in [*info.metadata, *inner]:
        if isinstance(m, Gt | Ge | Lt | Le):
            key = type(m).__name__.lower()
            meta[key] = getattr(m, key)
        elif isinstance(m, MinLen | MaxLen):
            key = "min_length" if isinstance(m, MinLen) else "max_length"
            meta[key] = getattr(m, key)
        elif getattr(m, "pattern", None) is not None:
            meta["pattern"] = _pattern(m.pattern)
        elif isinstance(m, AfterValidator) and m.func is _bounded:
            post.append(f"_bounded({name!r}, self.{name})")
        else:
            raise UnsupportedModel(f"{model}.{name}: constraint {m!r} is not mirrored")
    tp = info.annotation
    text = _type(tp, model)
    if meta:  # on the non-None part of an optional field, as pydantic applies it
        bound = f"Meta({', '.join(f'{k}={v!r}' for k, v in meta.items())})"
        parts = [a for a in typing.get_args(tp)] if typing.get_origin(tp) in (typing.Union, types.UnionType) else [tp]
        text = " | ".join("None" if a is type(None) else f"Annotated[{_type(a, model)}, {bound}]" for a in parts)
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
        default = f" = msgspec.field(default_factory={info.default_factory.__name__})"
    elif info.default is PydanticUndefined:
        default = ""
    else:
        value = info.default
        if isinstance(value, enum.Enum):
            default = f" = {type(value).__name__}.{value.name}"
        elif isinstance(value, Path):
            default = f" = Path({str(value)!r})"
        else:
            default = f" = {value!r}"
    return f"    {name}: {text}{default}", post


def _validator(model: type[BaseModel], name: str) -> Any:
    """The function of :data:`VALIDATORS` for ``model``'s validator ``name`` (maybe inherited), or None."""
    for cls in model.__mro__:
        if (cls, name) in VALIDATORS:
            return VALIDATORS[(cls, name)]
    return None


def _struct(model: type[BaseModel]) -> str:
    name = model.__name__
    decorators = model.__pydantic_decorators__
    if decorators.validators or decorators.root_validators:
        raise UnsupportedModel(f"{name}: v1 validators are not mirrored")
    if model.model_config.get("extra") != "forbid":
        raise UnsupportedModel(f"{name}: only models that forbid unknown fields are mirrored")
    post: list[str] = []  # field validators, the fields' checks, then model validators (pydantic's order)
    after: list[str] = []
    for vname, dec in decorators.field_validators.items():
        fn = _validator(model, vname)
        if fn is None or dec.info.mode != "after":
            raise UnsupportedModel(f"{name}.{vname}: field validators are mirrored only with a function in VALIDATORS")
        CALLED.add(fn)
        post += [f"self.{f} = {fn.__name__}(self.{f})" for f in dec.info.fields]
    for vname, mdec in decorators.model_validators.items():
        if vname == "_no_booleans_for_numbers":
            continue  # msgspec refuses a boolean for a number itself
        fn = _validator(model, vname)
        if fn is None and model in RULES and mdec.info.mode == "after":
            continue  # a message rule: _rule(...) below
        if fn is None:
            raise UnsupportedModel(f"{name}.{vname}: a model validator without its function in VALIDATORS or RULES")
        CALLED.add(fn)
        if mdec.info.mode == "after":
            after.append(f"{fn.__name__}(self)")
        elif mdec.info.mode == "before" and model is CONFIG_MODELS[-1]:
            BEFORE.append(fn)
        else:
            raise UnsupportedModel(f"{name}.{vname}: only the root model's validator may run before")
    mixins = [b for b in model.__mro__[1:] if b not in MIXINS and not issubclass(b, BaseModel) and b is not object]
    if mixins:
        raise UnsupportedModel(f"{name}: inherits {mixins[0].__name__}, not in MIXINS")
    bases = "".join(f"{b.__name__}, " for b in model.__mro__[1:] if b in MIXINS)
    lines = [f"class {name}({bases}msgspec.Struct, kw_only=True, forbid_unknown_fields=True):"]
    doc = (model.__doc__ or "").strip().splitlines()
    lines.append(f'    """Mirror of ``{model.__module__}.{name}``{": " + doc[0] if doc else "."}"""')
    lines.append("")
    finite = model.model_config.get("allow_inf_nan") is False or issubclass(model, Message)
    for field_name, info in model.model_fields.items():
        line, checks_ = _field(field_name, info, name, finite)
        lines.append(line)
        post += checks_
    post += after
    if model in RULES:
        post.append(f"_rule({RULES[model]}(self))")
    if post:
        lines += ["", "    def __post_init__(self) -> None:", *(f"        {p}" for p in post)]
    return "\n".join(lines)


def render() -> str:
    """The text of ``edge/agent/structs.py``."""
    for model in MODELS:
        if not issubclass(model, Message) and model.model_config.get("extra") != "forbid":
            raise UnsupportedModel(f"{model.__name__}: not a message")
    ENUMS.clear()
    CALLED.clear()
    body = "\n\n\n".join(_struct(m) for m in MODELS)
    if any(fn.__module__ != checks.__name__ for fn in CALLED):
        raise UnsupportedModel("a message's validator calls a function outside shared.messages.checks")
    rules = ", ".join(sorted(set(RULES.values()) | {fn.__name__ for fn in CALLED}))
    enums = _imports([e for e in ENUMS if e is not ErrorCode])  # the header imports ErrorCode
    categories = "".join(f"    {n!r}: {s.category.value!r},\n" for n, s in CATALOGUE.items())
    body += (
        "\n\n\n#: every command of ``shared.commands.CATALOGUE`` and its category (no parameter model loaded)"
        f"\nCOMMAND_CATEGORIES: dict[str, str] = {{\n{categories}}}"
    )
    helpers = ["COMMAND_CATEGORIES", "as_dict", "build", "decode", "encode", "response_fail", "response_ok", "validate"]
    public = sorted([m.__name__ for m in MODELS] + helpers)
    names = ", ".join(f'"{n}"' for n in public)
    return HEADER.format(rules=rules, enums=enums) + "\n\n" + body + f"\n\n\n__all__ = [{names}]\n"


def _imports(names: list[Any]) -> str:
    """``from module import a, b`` lines for the enums and functions ``names``."""
    homes: dict[str, list[str]] = {}
    for n in names:
        homes.setdefault(n.__module__, []).append(n.__name__)
    return "".join(f"from {home} import {', '.join(sorted(got))}\n" for home, got in sorted(homes.items()))


def render_config() -> str:
    """The text of ``edge/agent/config_structs.py``."""
    ENUMS.clear()
    CALLED.clear()
    BEFORE.clear()
    body = "\n\n\n".join(_struct(m) for m in CONFIG_MODELS)
    root = CONFIG_MODELS[-1].__name__
    before = "data"
    for fn in BEFORE:
        before = f"{fn.__name__}({before}, env)"
    mixins = [m for m in MIXINS if any(m in c.__mro__ for c in CONFIG_MODELS)]
    imports = _imports(list({*ENUMS, *CALLED, *BEFORE, *mixins, Secret, config_dec_hook, config_enc_hook}))
    public = sorted([m.__name__ for m in CONFIG_MODELS] + ["dump_json", "from_model", "load"])
    names = ", ".join(f'"{n}"' for n in public)
    head = CONFIG_HEADER.format(imports=imports, root=root, before=before)
    return head + "\n\n" + body + f"\n\n\n__all__ = [{names}]\n"


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
    CONFIG_TARGET.write_text(formatted(render_config(), CONFIG_TARGET))
    print(f"wrote {TARGET.relative_to(ROOT)} and {CONFIG_TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
