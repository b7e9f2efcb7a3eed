"""Table ``…-label``: which agents carry a tag (``label`` = ``tag#<name>``, sort key ``agent_id``), so "agents with
tag X" is one Query. Written together with the agent item in one transaction."""

from __future__ import annotations

from pynamodb.attributes import UnicodeAttribute
from pynamodb.constants import PAY_PER_REQUEST_BILLING_MODE

from chalicelib.models.base import UNBOUND, BaseModel


class LabelModel(BaseModel):
    AGGREGATE = "label"

    class Meta:
        table_name = UNBOUND
        billing_mode = PAY_PER_REQUEST_BILLING_MODE

    label = UnicodeAttribute(hash_key=True)
    agent_id = UnicodeAttribute(range_key=True)
    site_id = UnicodeAttribute()
