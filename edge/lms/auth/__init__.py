"""Local authentication and accountability: API tokens with roles (``Tokens``) and the audit log (``Audit``)."""

from __future__ import annotations

from edge.lms.auth.audit_log import Audit
from edge.lms.auth.tokens import ADMIN_TOKEN_ENV, ADMIN_TOKEN_FILE, AuthError, Principal, Role, Tokens

__all__ = ["ADMIN_TOKEN_ENV", "ADMIN_TOKEN_FILE", "Audit", "AuthError", "Principal", "Role", "Tokens"]
