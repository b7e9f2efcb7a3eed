"""What every table model shares: a table name bound at runtime (see :func:`chalicelib.models.bind`), on-demand
billing, and global secondary indexes that project every attribute.

Each model declares ``Meta = table_meta()``: PynamoDB reads table name, host and region from its model's own
``Meta``, so a shared one would point every model at one table. An index is ``by_x = global_index("x", "y")``,
named after the attribute it is assigned to.
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import Attribute, UnicodeAttribute
from pynamodb.constants import PAY_PER_REQUEST_BILLING_MODE
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

#: Placeholder until :func:`chalicelib.models.bind` names the table from the settings.
UNBOUND = "classtop-unbound"


class BaseModel(Model):
    #: the table name suffix: ``classtop--{tenant}--{stage}--{AGGREGATE}``
    AGGREGATE: str = ""


def table_meta() -> Any:
    """A model's own ``Meta``: unbound until :func:`chalicelib.models.bind`, on-demand billing."""
    return type("Meta", (), {"table_name": UNBOUND, "billing_mode": PAY_PER_REQUEST_BILLING_MODE})


def global_index(hash_key: str, range_key: str,
                 range_type: type[Attribute[Any]] = UnicodeAttribute) -> GlobalSecondaryIndex[Any]:
    """A global secondary index on (``hash_key``, ``range_key``; a string, unless ``range_type`` says otherwise)
    projecting every attribute. It is sparse when items may lack ``hash_key``."""
    meta = type("Meta", (), {"projection": AllProjection()})
    index = type(f"Index_{hash_key}_{range_key}", (GlobalSecondaryIndex,), {
        "Meta": meta,
        hash_key: UnicodeAttribute(hash_key=True),
        range_key: range_type(range_key=True),
    })
    made: GlobalSecondaryIndex[Any] = index()
    return made
