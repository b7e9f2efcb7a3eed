"""Table ``…-label``: which agents carry a tag (``label`` = ``tag#<name>``, sort key ``agent_id``), so "agents with
tag X" is one Query. Written together with the agent item in one transaction."""

from __future__ import annotations

from pynamodb.attributes import UnicodeAttribute

from chalicelib.models.base import BaseModel


class LabelModel(BaseModel, aggregate="label"):
    label = UnicodeAttribute(hash_key=True)
    agent_id = UnicodeAttribute(range_key=True)
    site_id = UnicodeAttribute()
