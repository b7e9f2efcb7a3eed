"""Admission of what joins the tenant: an agent, a site's LMS, a ClassTop client."""

from __future__ import annotations

from enum import StrEnum


class Approval(StrEnum):
    """``approved`` may act; ``pending`` waits for an admin (its data is kept); ``rejected`` is refused."""

    APPROVED = "approved"
    PENDING = "pending"
    REJECTED = "rejected"
