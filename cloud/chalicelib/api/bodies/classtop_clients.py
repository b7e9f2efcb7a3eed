"""The request bodies of the routes of ``chalicelib/api/classtop_clients.py``: imported when one of them is first
called or the OpenAPI document is built (``api/routes.py``). The ClassTop wire's own models."""

from __future__ import annotations

from shared.classtop_wire import ClientRegistration as ClientRegistration
from shared.classtop_wire import SyncUpload as SyncUpload
