"""What every table model shares: a table name bound at runtime (see :func:`chalicelib.models.bind`), on-demand
billing, and global secondary indexes that project every attribute unless they say otherwise.

A model names its table in its class line, ``class AgentModel(BaseModel, aggregate="agent")``, and gets its own
``Meta`` (PynamoDB reads table name, host and region from the model's own ``Meta``, so a shared one would point
every model at one table). An index is ``by_x = global_index("x", "y")``, named after the attribute it is
assigned to.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast

from pynamodb.attributes import Attribute, UnicodeAttribute
from pynamodb.constants import PAY_PER_REQUEST_BILLING_MODE
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, Projection
from pynamodb.models import MetaModel, Model

if TYPE_CHECKING:
    from chalicelib.config import Settings

#: Placeholder until :func:`chalicelib.models.bind` names the table from the settings.
UNBOUND = "classtop-unbound"


class _Binding:
    """The settings :func:`bind` last bound the models to: a model class defined (imported) later binds itself."""

    settings: Settings | None = None


_binding = _Binding()


class _TableMeta(MetaModel):
    """PynamoDB's model metaclass, taking the table's ``aggregate`` from the class line."""

    def __new__(mcs, name: str, bases: tuple[type, ...], namespace: dict[str, Any],
                aggregate: str | None = None) -> _TableMeta:
        if aggregate is not None:
            namespace = {**namespace, "AGGREGATE": aggregate, "Meta": table_meta()}
        made: _TableMeta = super().__new__(mcs, name, bases, namespace)  # type: ignore[no-untyped-call]
        return made

    def __init__(cls, name: str, bases: tuple[type, ...], namespace: dict[str, Any],
                 aggregate: str | None = None) -> None:
        if aggregate is not None:  # PynamoDB completes the Meta it finds in the namespace: the class's own
            namespace = {**namespace, "AGGREGATE": aggregate, "Meta": cls.__dict__["Meta"]}
        super().__init__(name, bases, namespace)
        if aggregate is not None and _binding.settings is not None:  # imported after bind(): a function's first use
            _bind(cast("type[BaseModel]", cls), _binding.settings)


class BaseModel(Model, metaclass=_TableMeta):
    #: the table name suffix: ``classtop--{tenant}--{stage}--{AGGREGATE}``
    AGGREGATE: str = ""

    def __init_subclass__(cls, aggregate: str | None = None, **kwargs: Any) -> None:
        """``aggregate`` (the metaclass takes it) names the table; declared here for type checkers."""
        super().__init_subclass__(**kwargs)


def table_meta() -> Any:
    """A model's own ``Meta``: unbound until :func:`chalicelib.models.bind`, on-demand billing."""
    return type("Meta", (), {"table_name": UNBOUND, "billing_mode": PAY_PER_REQUEST_BILLING_MODE})


def global_index(hash_key: str, range_key: str, range_type: type[Attribute[Any]] = UnicodeAttribute,
                 projection: Projection | None = None) -> GlobalSecondaryIndex[Any]:
    """A global secondary index on (``hash_key``, ``range_key``; a string, unless ``range_type`` says otherwise)
    projecting every attribute, or what ``projection`` says. It is sparse when items may lack ``hash_key``."""
    meta = type("Meta", (), {"projection": projection or AllProjection()})
    index = type(f"Index_{hash_key}_{range_key}", (GlobalSecondaryIndex,), {
        "Meta": meta,
        hash_key: UnicodeAttribute(hash_key=True),
        range_key: range_type(range_key=True),
    })
    made: GlobalSecondaryIndex[Any] = index()
    return made


def defined() -> Iterator[type[BaseModel]]:
    """Every table model imported so far (a Lambda function imports only the ones its path uses)."""
    pending: list[type[BaseModel]] = [BaseModel]
    while pending:
        model = pending.pop()
        pending.extend(model.__subclasses__())
        if model.__dict__.get("AGGREGATE"):
            yield model


def bind(settings: Settings) -> None:
    """Point every model imported so far, and every one imported later, at its table for ``settings``."""
    _binding.settings = settings
    for model in defined():
        _bind(model, settings)


def unbind() -> None:
    """Forget the binding and every model's table and cached connection (tests)."""
    _binding.settings = None
    for model in defined():
        model.Meta.table_name, model.Meta.host, model.Meta.region = UNBOUND, None, None
        model._connection = None


def _bind(model: type[BaseModel], settings: Settings) -> None:
    """PynamoDB caches one connection (and botocore client) per model; it is dropped when the table, endpoint or
    region changes, and kept otherwise (making a botocore client costs ~0.15 s)."""
    target = (settings.table_name(model.AGGREGATE), settings.aws_endpoint, settings.region)
    if (model.Meta.table_name, model.Meta.host, model.Meta.region) != target:
        model.Meta.table_name, model.Meta.host, model.Meta.region = target
        model._connection = None
