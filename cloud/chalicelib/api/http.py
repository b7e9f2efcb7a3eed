"""HTTP plumbing shared by the blueprints: JSON responses, error mapping, body parsing, authentication."""

from __future__ import annotations

import contextvars
import functools
import json
import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from chalice.app import Blueprint, Request, Response

from chalicelib import container
from chalicelib.domain.token import Principal, Role
from chalicelib.errors import BadRequest, CloudError, PayloadTooLarge
from chalicelib.repositories import change_mark
from shared.errors import ErrorCode, SharedError
from shared.topics import is_valid_id

if TYPE_CHECKING:  # pydantic loads with the first body a request parses (docs/deploy.md#cold-starts)
    from pydantic import BaseModel

log = logging.getLogger(__name__)

P = ParamSpec("P")
M = TypeVar("M", bound="BaseModel")

_JSON = {"Content-Type": "application/json"}

#: who made the current request (set by :func:`authenticate` / :func:`act_as`), for the audit log
_actor: contextvars.ContextVar[tuple[str, str | None] | None] = contextvars.ContextVar("actor", default=None)


def ok(data: Any, status: int = 200, **extra: Any) -> Response:
    """The seed's success envelope: ``{"success": true, "data": ...}``."""
    return Response(body={"success": True, **extra, "data": data}, status_code=status, headers=dict(_JSON))


def failure(exc: CloudError) -> Response:
    return Response(body=exc.to_body(), status_code=exc.status, headers=dict(_JSON))


def endpoint(view: Callable[P, Response]) -> Callable[P, Response]:
    """Map every exception of a view to a JSON error response; unexpected ones are logged as 500s."""

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Response:
        try:
            with change_mark.deferred():  # one bump per area the request wrote, after its writes
                return view(*args, **kwargs)
        except CloudError as exc:
            if exc.status >= 500:
                log.warning("%s: %s", view.__name__, exc)
            return failure(exc)
        except SharedError as exc:
            return failure(CloudError.from_shared(exc))
        except Exception:
            log.exception("%s: unhandled error", view.__name__)
            return failure(CloudError("internal error", code=ErrorCode.INTERNAL))

    return wrapper


def act_as(name: str, role: str | None = None) -> None:
    """Name the caller of the current request for the audit log (callers without a bearer token)."""
    _actor.set((name, role))


def audited(
    bp: Blueprint, action: str, *, detail: Callable[[Request], str | None] | None = None
) -> Callable[[Callable[P, Response]], Callable[P, Response]]:
    """Write one audit entry per call of the (``endpoint``-wrapped) view: who, ``action``, the request path
    as target, and the HTTP status and error code as result. Put it between ``route`` and ``endpoint``.
    ``detail(request)``, if given, adds a short text to the target (e.g. which settings were changed)."""

    def decorate(view: Callable[P, Response]) -> Callable[P, Response]:
        @functools.wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> Response:
            token = _actor.set(None)
            try:
                response = view(*args, **kwargs)
                actor, role = _actor.get() or ("anonymous", None)
                body = response.body if isinstance(response.body, dict) else {}
                error = body.get("error")
                result = "ok" if response.status_code < 400 else (
                    str(error.get("code")) if isinstance(error, dict) else "error")
                target = _target(bp.current_request)
                data = body.get("data")
                request = bp.current_request
                if isinstance(data, dict) and request is not None and not request.uri_params:
                    for key in _TARGET_KEYS:
                        value = data.get(key)
                        if isinstance(value, str) and value not in target:
                            target = f"{target} {key}={value}"
                            break
                extra = _detail(detail, request)
                if extra:
                    target = f"{target} {extra}"
                try:
                    container.get().audit.record(actor, role, action, target, response.status_code, result)
                except Exception:  # e.g. no configuration at all: the response already says what went wrong
                    log.exception("audit entry lost: %s %s %s", actor, action, target)
                return response
            finally:
                _actor.reset(token)

        return wrapper

    return decorate


def _detail(detail: Callable[[Request], str | None] | None, request: Request | None) -> str | None:
    if detail is None or request is None:
        return None
    try:
        text = detail(request)
    except Exception:  # a body the view refused: the entry still says who tried what
        return None
    return text[:AUDIT_DETAIL_MAX] if text else None


#: The longest ``detail`` kept in an audit target.
AUDIT_DETAIL_MAX = 300
#: a response field that names what a call created, added to the audit target of a path without parameters
_TARGET_KEYS = ("command_id", "site_id", "client_uuid", "agent_id", "camera_id", "token_id", "email")


def _target(request: Request | None) -> str:
    if request is None:
        return ""
    path = str(request.context.get("resourcePath", ""))
    for name, value in (request.uri_params or {}).items():
        path = path.replace("{" + name + "}", str(value))
    return path


def authenticate(request: Request, role: Role = Role.VIEWER, *, tenant_wide: bool = False) -> Principal:
    """The caller of ``request`` (401 without a known, unexpired bearer token), who must have at least ``role``
    (403) and, for a ``tenant_wide`` act (a route of ``Scope.TENANT``), a token for every site (403)."""
    header: str | None = request.headers.get("authorization")
    principal = container.get().tokens.authenticate(header)
    _actor.set((principal.name, principal.role.value))
    action = f"{request.method} {request.context.get('resourcePath', '')}".strip()
    principal.require(role, action)
    if tenant_wide:
        principal.require_unscoped(action)
    return principal


#: the deepest nesting of arrays and objects a request body may have (the deepest real body, a ClassTop sync, has 4)
MAX_JSON_DEPTH = 32
_TOO_DEEP = f"request body nests arrays or objects more than {MAX_JSON_DEPTH} levels deep"


def _depth_exceeds(data: Any, limit: int) -> bool:
    """Whether ``data`` nests lists or dicts deeper than ``limit`` (iterative: no recursion to exhaust)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def parse_body(request: Request, model: type[M]) -> M:
    """The request body as ``model``: 413 when too large, 400 for non-JSON, JSON nested deeper than
    :data:`MAX_JSON_DEPTH`, or invalid fields."""
    body = request.raw_body or b""
    raw = body.encode() if isinstance(body, str) else body
    limit = container.get().settings.max_body_bytes
    if len(raw) > limit:
        raise PayloadTooLarge(f"request body of {len(raw)} bytes exceeds the {limit}-byte limit")
    if not raw.strip():
        raise BadRequest("request body: expected a JSON object", code=ErrorCode.BAD_JSON)
    try:
        data = json.loads(raw)
    except RecursionError:  # the C parser gives up ~1,000 levels down; nothing was built
        raise BadRequest(_TOO_DEEP, code=ErrorCode.BAD_JSON) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}", code=ErrorCode.BAD_JSON) from None
    if not isinstance(data, dict):
        raise BadRequest("request body: expected a JSON object")
    if _depth_exceeds(data, MAX_JSON_DEPTH):
        raise BadRequest(_TOO_DEEP, code=ErrorCode.BAD_JSON)
    from pydantic import ValidationError

    from shared.messages import describe_validation_error

    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise BadRequest(f"invalid request body: {describe_validation_error(exc)}") from None


def path_value(value: str, what: str, pattern: str) -> str:
    """``value`` if it matches ``pattern`` (a path parameter's documented grammar); else a 400 naming ``what``."""
    if re.fullmatch(pattern, value) is None:
        raise BadRequest(f"{what}: invalid {value[:80]!r}")
    return value


def path_id(value: str, what: str) -> str:
    """``value`` if it is an id (``shared.topics.is_valid_id``); else a 400 naming ``what``."""
    if not is_valid_id(value):
        raise BadRequest(f"{what}: invalid {value[:80]!r}")
    return value


def _query(request: Request, name: str) -> str | None:
    params = request.query_params
    if params is None:
        return None
    value: str | None = params.get(name)
    return value


def query_int(request: Request, name: str, default: int) -> int:
    raw = _query(request, name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"{name}: must be an integer") from None


def query_float(request: Request, name: str, default: float, *, low: float, high: float) -> float:
    raw = _query(request, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise BadRequest(f"{name}: must be a number") from None
    if not low <= value <= high:
        raise BadRequest(f"{name}: must be between {low:g} and {high:g}")
    return value


def query_since(request: Request) -> float | None:
    """``?since=`` (epoch seconds, a poll's cursor: the newest ``at`` it has seen), or ``None``."""
    return None if _query(request, "since") is None else query_float(request, "since", 0.0, low=0.0, high=1e11)


def query_str(request: Request, name: str) -> str | None:
    return _query(request, name) or None
