"""The checks every message meets, in pure Python (no pydantic): the JSON intake limits and the rules across
fields. The pydantic models (``shared.messages``) and their msgspec mirrors (``shared.messages.structs``, which
the agent uses: docs in edge/agent/README.md#footprint) both call these, so a rule is written once."""

from __future__ import annotations

import json
import math
from typing import Any

from shared.errors import ErrorCode, MessageError

#: a command's ``request_id`` (and the cloud's ``command_id``), and a command's name
REQUEST_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
COMMAND_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
#: a command's longest and default timeout (seconds)
MAX_TIMEOUT_S = 3600.0
DEFAULT_TIMEOUT_S = 30.0
#: the largest package the LMS downloads for a cloud upgrade campaign (the agent's own download cap)
MAX_PACKAGE_BYTES = 64 * 1024 * 1024
#: AWS IoT Core's message limit; nothing bigger is accepted on any hop.
MAX_PAYLOAD_BYTES = 128 * 1024
#: the bounds of a site's full heartbeat period (the LMS's ``site_heartbeat_s``, ``SiteHeartbeat.full_period_s``).
#: The cloud shows a silent site down some periods after its last heartbeat (docs/architecture.md#presence), so the
#: most a site may claim bounds how long a hung LMS goes unnoticed: 10 minutes, twice the default
FULL_PERIOD_MIN_S = 1.0
FULL_PERIOD_MAX_S = 600.0
#: a setting's key and the longest value (``shared.commands``; the agent's settings store)
SETTING_KEY_PATTERN = r"^[A-Za-z0-9_.-]{1,128}$"
MAX_SETTING_VALUE = 8192
#: The deepest nesting of arrays and objects in a whole message (its envelope included); deeper is refused before
#: validation. Bounds every later recursion over it (pydantic's serialiser gives up at about 255 levels).
MAX_PAYLOAD_DEPTH = 64
#: The deepest nesting of arrays and objects inside one free-form field (an event's ``data``, a command's
#: ``params``, a response's ``data``...), counted from the field's value. Well under :data:`MAX_PAYLOAD_DEPTH` so
#: that a field that passes still fits any envelope it is forwarded in (``site_events`` adds four levels).
MAX_DATA_DEPTH = 32
#: Integers in free-form fields fit SQLite's (and most JSON readers') 64-bit signed integer.
MAX_INT = 2**63 - 1
MIN_INT = -(2**63)


def json_problem(value: Any, *, max_depth: int = MAX_DATA_DEPTH) -> str | None:
    """What makes decoded JSON ``value`` unfit to keep (``None``: nothing): arrays and objects nested deeper than
    ``max_depth`` (the value itself is level 1), a float that is NaN or infinite, an integer beyond 64 bits.
    Iterative: no recursion to exhaust, whatever the depth. On every message's way in (heartbeats and metrics by
    the thousand a second on a site): the plain JSON types are told by ``type(...) is``, the rest by ``isinstance``."""
    if not isinstance(value, dict | list | tuple):
        return _scalar_problem(value)
    stack: list[tuple[Any, int]] = [(value, 1)]  # containers only, with their level
    while stack:
        container, level = stack.pop()
        if level > max_depth:
            return f"arrays or objects nested more than {max_depth} levels deep"
        for child in container.values() if isinstance(container, dict) else container:
            kind = type(child)
            if kind is str or kind is bool or child is None:
                continue
            if kind is float:
                if child - child != 0.0:  # NaN or infinite (inf - inf is NaN, and NaN is unequal to everything)
                    return "a number that is NaN or infinite"
            elif kind is int:
                if not MIN_INT <= child <= MAX_INT:
                    return "an integer beyond 64 bits"
            elif kind is dict or kind is list or isinstance(child, dict | list | tuple):
                stack.append((child, level + 1))
            else:
                problem = _scalar_problem(child)
                if problem is not None:
                    return problem
    return None


def _scalar_problem(item: Any) -> str | None:
    if isinstance(item, float):
        if not math.isfinite(item):
            return "a number that is NaN or infinite"
    elif isinstance(item, int) and not isinstance(item, bool) and not MIN_INT <= item <= MAX_INT:
        return "an integer beyond 64 bits"
    return None


def setting_value(value: Any) -> str:
    """ClassTop stores every setting as a string; booleans as ``'true'``/``'false'`` (``shared.commands``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("setting values must be finite numbers (not NaN or infinite)")
    if isinstance(value, int | float | str):
        text = str(value)
        if len(text) > MAX_SETTING_VALUE:
            raise ValueError(f"setting value longer than {MAX_SETTING_VALUE} characters")
        return text
    raise ValueError("setting values must be strings, numbers or booleans")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:40]} is too large for a float")
    return value


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)
_PRECISE_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)


def load_json(payload: bytes | str, *, max_bytes: int = MAX_PAYLOAD_BYTES, max_depth: int = MAX_PAYLOAD_DEPTH) -> Any:
    """Decode a JSON payload with a size cap; raise :class:`MessageError` with a precise code. Refused too:
    ``NaN`` / ``Infinity`` and numbers too large for a float (not JSON), integers beyond 64 bits, and arrays or
    objects nested deeper than ``max_depth``."""
    raw = payload.encode() if isinstance(payload, str) else payload
    if len(raw) > max_bytes:
        raise MessageError(
            f"payload of {len(raw)} bytes exceeds the {max_bytes}-byte limit", code=ErrorCode.PAYLOAD_TOO_LARGE
        )
    try:
        # Numbers too large for a float come out infinite: found below (then read again for the precise reason),
        # so that the common case pays no Python call per number. (``json.loads`` with any option would make a
        # decoder per call: as much again as the parsing of a heartbeat.)
        data = _DECODER.decode(raw.decode(json.detect_encoding(raw), "surrogatepass"))
    except RecursionError:  # the C parser gives up ~1,000 levels down; nothing was built
        raise MessageError(
            f"payload nests arrays or objects more than {max_depth} levels deep", code=ErrorCode.BAD_JSON
        ) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise MessageError(f"payload is not valid JSON: {exc}", code=ErrorCode.BAD_JSON) from None
    problem = json_problem(data, max_depth=max_depth)
    if problem is not None:
        if problem.endswith("NaN or infinite"):  # only a literal like 1e999 gets here: say which
            try:
                _PRECISE_DECODER.decode(raw.decode(json.detect_encoding(raw), "surrogatepass"))
            except ValueError as exc:
                raise MessageError(f"payload is not valid JSON: {exc}", code=ErrorCode.BAD_JSON) from None
        raise MessageError(f"payload holds {problem}", code=ErrorCode.BAD_JSON)
    return data


def response_problem(response: Any) -> str | None:
    """What breaks a ``Response``'s rule across fields (``None``: nothing): a success carries no error, a failure
    says why in ``error``."""
    if response.success and (response.error is not None or response.error_code is not None):
        return "a successful response carries no error"
    if not response.success and not response.error:
        return "a failed response must say why in 'error'"
    return None


#: teaching weeks are numbered 1..MAX_WEEK (``shared.commands.ScheduleEntry``)
MAX_WEEK = 60


def schedule_weeks(weeks: list[int]) -> list[int]:
    """``ScheduleEntry.weeks``: each 1-:data:`MAX_WEEK`, kept sorted and once."""
    if any(w < 1 or w > MAX_WEEK for w in weeks):
        raise ValueError(f"weeks are numbered 1-{MAX_WEEK}")
    return sorted(set(weeks))


def schedule_order(entry: Any) -> None:
    """``ScheduleEntry``: it ends after it starts."""
    if entry.end_time <= entry.start_time:
        raise ValueError(f"entry {entry.id}: end_time {entry.end_time} is not after start_time {entry.start_time}")


def classtop_references(data: Any) -> None:
    """``ClassTopData``: ids unique, every entry's ``course_id`` an existing course."""
    course_ids = [c.id for c in data.courses]
    if len(set(course_ids)) != len(course_ids):
        raise ValueError("course ids must be unique")
    entry_ids = [e.id for e in data.schedule_entries]
    if len(set(entry_ids)) != len(entry_ids):
        raise ValueError("schedule entry ids must be unique")
    known = set(course_ids)
    dangling = sorted({e.course_id for e in data.schedule_entries if e.course_id not in known})
    if dangling:
        raise ValueError(f"schedule entries refer to unknown course ids {dangling[:20]}")


def _unique(keys: list[Any], message: str) -> None:
    if len(set(keys)) != len(keys):
        raise ValueError(message)


def site_hops(hops: dict[Any, float] | None) -> dict[Any, float] | None:
    """``AgentResult.hops``: only the hops a site reports (``SITE_HOPS``), at epoch-second times."""
    from shared.messages.enums import SITE_HOPS

    if hops is None:
        return hops
    bad = sorted(h.value for h in hops if h not in SITE_HOPS)
    if bad:
        raise ValueError(f"a site does not report the hop(s) {', '.join(bad)}")
    if any(not (0 <= t < 1e11) for t in hops.values()):
        raise ValueError("hop times are epoch seconds")
    return hops


def unique_snapshots(message: Any) -> None:
    """``AgentSnapshots``: at most one entry per ``(agent_id, kind)``."""
    _unique([(s.agent_id, s.kind) for s in message.snapshots], "snapshots must not repeat an (agent_id, kind)")


#: rollups travel and are stored by whole hours: one cloud write per agent per hour
ROLLUP_HOUR_S = 3600
#: the figures of a metric rollup besides CPU, each as ``<name>_min``, ``<name>_avg``, ``<name>_max``
ROLLUP_OPTIONAL_FIGURES = ("mem", "disk", "net_rx", "net_tx")


def rollup_aligned(rollup: Any) -> None:
    """``MetricRollup``: its bucket starts at a multiple of its period; each figure's min <= avg <= max, and an
    optional figure's three come together or not at all."""
    if rollup.start % rollup.period_s:
        raise ValueError("start must be a multiple of period_s")
    if not rollup.cpu_min <= rollup.cpu_avg <= rollup.cpu_max:
        raise ValueError("cpu_min <= cpu_avg <= cpu_max")
    for name in ROLLUP_OPTIONAL_FIGURES[1:]:  # memory predates the rule (an older site may send part of it)
        low, avg, high = (getattr(rollup, f"{name}_{part}") for part in ("min", "avg", "max"))
        if (low is None) != (avg is None) or (avg is None) != (high is None):
            raise ValueError(f"{name}_min, {name}_avg and {name}_max come together or not at all")
        if low is not None and not low <= avg <= high:
            raise ValueError(f"{name}_min <= {name}_avg <= {name}_max")


def unique_rollups(message: Any) -> None:
    """``MetricRollups``: at most one rollup per ``(agent_id, start)``."""
    _unique([(r.agent_id, r.start) for r in message.rollups], "rollups must not repeat an (agent_id, start)")


def unique_agents(message: Any) -> None:
    """``AgentsRetired``, ``UpgradeCampaignReport``: an agent listed once."""
    _unique([a.agent_id for a in message.agents], "agents: an agent is listed twice")


def alert_target_shape(target: Any) -> None:
    """``AlertTarget``: a site names no agent or camera, an agent its agent, a camera its agent and camera."""
    kind = str(target.kind)
    if kind == "site" and (target.agent_id or target.camera_id):
        raise ValueError("a site target names no agent or camera")
    if kind == "agent" and (not target.agent_id or target.camera_id):
        raise ValueError("an agent target names its agent and no camera")
    if kind == "camera" and not (target.agent_id and target.camera_id):
        raise ValueError("a camera target names its agent and camera")
