"""Local authentication and accountability: API tokens with roles (``Tokens``), the console's accounts
(``Accounts``) and their sessions (``Sessions``), and the audit log (``Audit``)."""

from __future__ import annotations

from edge.lms.auth.accounts import Account, AccountExists, Accounts, SignInRefused, UnknownAccount
from edge.lms.auth.audit_log import Audit
from edge.lms.auth.sessions import Session, Sessions
from edge.lms.auth.tokens import ADMIN_TOKEN_ENV, ADMIN_TOKEN_FILE, AuthError, Principal, Role, Tokens

__all__ = [
    "ADMIN_TOKEN_ENV",
    "ADMIN_TOKEN_FILE",
    "Account",
    "AccountExists",
    "Accounts",
    "Audit",
    "AuthError",
    "Principal",
    "Role",
    "Session",
    "Sessions",
    "SignInRefused",
    "Tokens",
    "UnknownAccount",
]
