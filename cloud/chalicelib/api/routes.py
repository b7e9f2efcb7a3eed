"""One declaration per route: who may call it, what it reaches, how it is documented, what it parses and audits.

A view is declared once, with :meth:`Router.route`::

    agents = Router(__name__, tag="agents")

    @agents.route("PUT", "/api/agents/{agent_id}/tags", Access.OPERATOR, Scope.SITE, "Replace an agent's tags",
                  body="AgentTagsBody", audit="agent.tags")
    def put_tags(call: Call[AgentTagsBody], agent_id: str) -> Response:
        return ok(container.get().agents.set_tags(agent_id, call.body.tags, call.principal).to_dict())

A route names its body schema; the schema lives in its area's module of ``chalicelib.api.bodies``
(``api/agents.py`` -> ``api/bodies/agents.py``) and is imported when the route is first called (or the OpenAPI
document is built), not with the routes: an API function's cold start loads the schema of the request it serves,
not every route's (docs/deploy.md#cold-starts). A view's ``Call[...]`` names the class for type checkers only.

The declaration registers the Chalice route and does, in this order, what every view used to do itself: check the
caller (:class:`Access`: an API token of at least a role, and for :data:`Scope.TENANT` a token for every site; a
site's API key; an enrolment credential), check the path's ids, parse the body into its schema, call the view —
every error mapped to the JSON envelope and, for an audited route, one audit entry per call. The OpenAPI document
(``openapi.py``), the API Gateway throttles of the anonymous routes (``infra/aws/api_stage.py``) and the role and
scope matrix tests read the same declarations (:data:`chalicelib.api.ROUTES`).
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import unquote

from chalice.app import Blueprint, Request, Response

from chalicelib import container
from chalicelib.api import etags
from chalicelib.api.http import audited, authenticate, endpoint, parse_body, path_id, path_value
from chalicelib.api.params import Query
from chalicelib.domain.site import Site
from chalicelib.domain.token import Principal, Role
from chalicelib.repositories.change_mark import Area

if TYPE_CHECKING:  # pydantic loads with the first body a request parses (docs/deploy.md#cold-starts)
    from pydantic import BaseModel

B = TypeVar("B")
View = Callable[..., Response]


class Access(StrEnum):
    """Which credential a route takes (the role matrix test calls every route with every kind of caller)."""

    #: no credentials; an Authorization header is ignored (health, the five ClassTop endpoints)
    PUBLIC = "public"
    #: no credentials (a new site; the tenant's ``lms_policy`` admits), the site's current API key (re-registration)
    #: or a one-time enrolment token; an API token is a 401
    ENROLMENT = "enrolment"
    #: the site's API key (``Authorization: Bearer ctl_…``); an API token is a 401
    LMS_KEY = "lms_key"
    #: an API token of at least this role; a token scoped to sites sees only those sites
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def role(self) -> Role | None:
        """The least role of an API token this access takes (``None``: not an API-token route)."""
        try:
            return Role(self.value)
        except ValueError:
            return None


class Scope(StrEnum):
    """What an API token limited to some sites (``site_ids``) may reach through a route. An unscoped token (every
    site of the tenant) passes every scope check; the role check always comes first."""

    #: no API token involved (public, enrolment and site-key routes)
    NONE = "none"
    #: the target (a site, an agent, a command, a camera) belongs to a site: another site's target answers 404,
    #: exactly like an unknown one, for reads and writes alike (a token cannot probe what exists elsewhere)
    SITE = "site"
    #: a listing: filtered to the token's sites (a filter naming another site lists nothing)
    LIST = "list"
    #: creates something for the site named in the body: naming another site is a 403, and naming none (a
    #: tenant-wide act) needs an unscoped token (403)
    NAMED = "named"
    #: tenant-wide (the audit log, API tokens, ClassTop clients, which belong to no site): a token scoped to sites
    #: gets 403 whatever its role
    TENANT = "tenant"


@dataclass(frozen=True, slots=True)
class Link:
    """An OpenAPI link from an answer of a route to another route: what the answer (or the request) gives that the
    next call takes (``parameters``: its path or query parameter -> a runtime expression such as
    ``$response.body#/data/token_id`` or ``$request.path.agent_id``). Stateful fuzzing follows them."""

    status: str
    method: str
    path: str
    parameters: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class BodySchema:
    """A request body's schema by name: the class ``name`` of the module ``module``, imported on first use."""

    module: str
    name: str

    def load(self) -> type[BaseModel]:
        from pydantic import BaseModel

        model = getattr(importlib.import_module(self.module), self.name, None)
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise TypeError(f"{self.module}.{self.name} is not a body schema")
        return model


def bodies_module(router_module: str) -> str:
    """Where the body schemas of the routes of ``router_module`` live: ``chalicelib.api.bodies.<its last part>``."""
    return f"{__name__.rpartition('.')[0]}.bodies.{router_module.rpartition('.')[2]}"


@dataclass(frozen=True, slots=True)
class Route:
    """The declaration of one route (see the module docstring)."""

    method: str
    path: str
    access: Access
    scope: Scope
    summary: str
    tag: str
    #: the request body's schema, by name (``None``: the route reads no body); :attr:`body` is the class
    schema: BodySchema | None = None
    #: an empty body stands for the schema's defaults
    body_optional: bool = False
    #: the query parameters it reads (checked before the view)
    query: tuple[Query, ...] = ()
    #: answers besides 200 and the common errors, status -> meaning (``201``, ``202``, ``429``...)
    responses: Mapping[str, str] = field(default_factory=dict)
    #: the audit action of every call (``None``: not audited)
    audit: str | None = None
    #: whether the path's parameters are checked as ids (``shared.topics.is_valid_id``) before the body is read
    check_ids: bool = True
    #: the grammar of the path's parameters when they are not ids (``check_ids=False``): decoded (an e-mail's ``@``
    #: comes as ``%40``), then checked (400) and documented like an id's
    path_pattern: str | None = None
    #: the areas whose change marks make the answer's ``ETag`` (``If-None-Match`` -> 304; ``etags.py``)
    etag: tuple[Area, ...] = ()
    #: the answer also ages with the clock: the ``ETag`` changes every ``etag_clock_s`` seconds
    etag_clock_s: int | None = None
    #: where its answers lead (OpenAPI links)
    links: tuple[Link, ...] = ()

    @property
    def body(self) -> type[BaseModel] | None:
        """The request body's schema (imported on first use)."""
        return None if self.schema is None else self.schema.load()

    @property
    def path_params(self) -> tuple[str, ...]:
        return tuple(re.findall(r"{(\w+)}", self.path))


@dataclass(frozen=True, slots=True)
class Call(Generic[B]):
    """What a view is given: the request, its parsed body and its checked caller."""

    request: Request
    body: B
    #: the API token's holder (API-token routes)
    caller: Principal | None = None
    #: the site whose API key called (:data:`Access.LMS_KEY`)
    site_caller: Site | None = None
    #: the bearer secret of an :data:`Access.ENROLMENT` call, if any
    credential: str | None = None

    @property
    def principal(self) -> Principal:
        if self.caller is None:
            raise RuntimeError("not an API-token route")
        return self.caller

    @property
    def site(self) -> Site:
        if self.site_caller is None:
            raise RuntimeError("not a site-key route")
        return self.site_caller


class Router:
    """The routes of one area of the API: a Chalice blueprint and the OpenAPI tag of its operations."""

    def __init__(self, name: str, tag: str) -> None:
        self.blueprint = Blueprint(name)
        self.tag = tag
        #: the module of its routes' body schemas
        self.bodies = bodies_module(name)
        #: its routes, in the order they were declared
        self.routes: list[Route] = []

    def route(
        self,
        method: str,
        path: str,
        access: Access,
        scope: Scope,
        summary: str,
        *,
        body: str | None = None,
        body_optional: bool = False,
        query: tuple[Query, ...] = (),
        responses: Mapping[str, str] | None = None,
        audit: str | None = None,
        audit_detail: Callable[[Request], str | None] | None = None,
        check_ids: bool = True,
        etag: tuple[Area, ...] = (),
        etag_clock_s: int | None = None,
        links: tuple[Link, ...] = (),
        path_pattern: str | None = None,
    ) -> Callable[[View], View]:
        if etag:
            responses = {**(responses or {}), "304": "not modified (If-None-Match names the current ETag)"}
        schema = None if body is None else BodySchema(self.bodies, body)
        declaration = Route(method, path, access, scope, summary, self.tag, schema, body_optional, query,
                            dict(responses or {}), audit, check_ids, path_pattern, tuple(etag), etag_clock_s,
                            links)
        self.routes.append(declaration)

        def decorate(view: View) -> View:
            @functools.wraps(view)
            def handle(**params: str) -> Response:
                call = self._call(declaration, params)
                if not declaration.etag:
                    return view(call, **params)
                tag = etags.entity_tag(call.request, call.caller, declaration.etag, declaration.etag_clock_s,
                                       container.get().clock)
                if etags.matches(call.request, tag):
                    return etags.not_modified(tag)
                return etags.tagged(view(call, **params), tag)

            wrapped = endpoint(handle)
            if audit is not None:
                wrapped = audited(self.blueprint, audit, detail=audit_detail)(wrapped)
            self.blueprint.route(path, methods=[method])(wrapped)
            return wrapped

        return decorate

    def _call(self, route: Route, params: dict[str, str]) -> Call[Any]:
        """Check the caller and the path's ids, then parse the body (each step's error is the answer)."""
        request = self.blueprint.current_request
        header: str | None = request.headers.get("authorization")
        caller: Principal | None = None
        site: Site | None = None
        credential: str | None = None
        if route.access is Access.ENROLMENT:
            from chalicelib.services.lms import bearer_secret  # the enrolment routes' path only

            credential = bearer_secret(header) if header else None
        elif route.access is Access.LMS_KEY:
            site = container.get().lms.authenticate(header)  # 401 before the body is even read
        elif (role := route.access.role) is not None:
            caller = authenticate(request, role, tenant_wide=route.scope is Scope.TENANT)
        for name in route.path_params:
            if route.path_pattern is not None:  # given percent-encoded (API Gateway passes the path as sent)
                params[name] = path_value(unquote(params[name]), name.replace("_", " "), route.path_pattern)
            elif route.check_ids:
                path_id(params[name], name.replace("_", " "))
        given: Mapping[str, str] = request.query_params or {}
        for query in route.query:
            raw = given.get(query.name)
            if raw is not None:
                query.check(raw)
        body: BaseModel | None = None
        if (model := route.body) is not None:
            empty = not (request.raw_body or b"").strip()
            body = model() if route.body_optional and empty else parse_body(request, model)
        return Call(request, body, caller, site, credential)


__all__ = ["Access", "BodySchema", "Call", "Link", "Query", "Route", "Router", "Scope"]

