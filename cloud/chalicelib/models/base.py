"""What every table model shares: a table name bound at runtime (see :func:`chalicelib.models.bind`).

Each subclass declares its own ``Meta`` (PynamoDB reads table name, host and region from it, so a shared
``Meta`` would make every model point at one table) with ``table_name = UNBOUND`` and on-demand billing.
"""

from __future__ import annotations

from pynamodb.models import Model

#: Placeholder until :func:`chalicelib.models.bind` names the table from the settings.
UNBOUND = "classtop-unbound"


class BaseModel(Model):
    #: the table name suffix: ``classtop--{tenant}--{stage}--{AGGREGATE}``
    AGGREGATE: str = ""
