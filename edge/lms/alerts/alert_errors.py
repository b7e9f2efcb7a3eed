"""The alerts feature's one exception: what its services refuse, with the reason and the HTTP status that fits."""

from __future__ import annotations

from edge.lms.errors import LmsError


class AlertError(LmsError):
    """A rule, silence, maintenance window, webhook or alert request refused (422 bad, 404 unknown, 409 conflict)."""
