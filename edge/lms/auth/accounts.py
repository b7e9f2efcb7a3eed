"""The console's local accounts (table ``accounts``): people who sign in with a user name and a password.

API tokens (:mod:`edge.lms.auth.tokens`) stay for scripts; accounts are for people. Both give a
:class:`~edge.lms.auth.tokens.Principal` with one of the same three roles. An account may also hold the
``cameras`` permission (watching live views, recordings and snapshots), which its role alone does not give.

* Passwords: scrypt hashes (:mod:`edge.lms.auth.password_hash`), 10-256 characters, not the user name.
* Lock-out: :data:`MAX_FAILURES` wrong passwords in a row lock an account for :data:`LOCK_S` (both set in
  ``[console]``); an admin may unlock it sooner. Unknown user names are answered exactly like wrong passwords
  (same message, same hashing time, the same lock-out counted in memory), so sign-in does not tell which accounts
  exist.
* The first start (no account at all) creates ``admin`` with a one-time password that must be changed at the first
  sign-in; :meth:`Accounts.bootstrap` returns it for the LMS to log, and writes it (mode 0600) next to the database.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from edge.lms.auth.password_hash import (
    DEFAULT_COST,
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    ScryptCost,
    dummy_hash,
    hash_password,
    needs_rehash,
    verify_password,
)
from edge.lms.auth.tokens import AuthError, Role
from edge.lms.store import Store

log = logging.getLogger(__name__)

#: Schema version 15.
ACCOUNT_TABLES_V15 = (
    """CREATE TABLE IF NOT EXISTS accounts (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            username TEXT NOT NULL UNIQUE COLLATE NOCASE,
            role TEXT NOT NULL,
            password_hash TEXT NOT NULL,
            must_change INTEGER NOT NULL DEFAULT 0,
            cameras INTEGER NOT NULL DEFAULT 0,
            created_at REAL NOT NULL,
            created_by TEXT,
            disabled_at REAL,
            failed_logins INTEGER NOT NULL DEFAULT 0,
            locked_until REAL,
            last_login_at REAL,
            password_changed_at REAL
        )""",
    """CREATE TABLE IF NOT EXISTS sessions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            token_hash TEXT NOT NULL UNIQUE,
            account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
            csrf_token TEXT NOT NULL,
            created_at REAL NOT NULL,
            last_seen_at REAL NOT NULL,
            expires_at REAL NOT NULL,
            client TEXT
        )""",
    "CREATE INDEX IF NOT EXISTS sessions_account ON sessions (account_id)",
)

USERNAME_PATTERN: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
FIRST_ADMIN: Final = "admin"
FIRST_ADMIN_FILE: Final = "first-admin-password"
MAX_FAILURES: Final = 5
LOCKED: Final = "too many failed sign-ins: this account is locked for a while"
LOCK_S: Final = 15 * 60.0
#: user names that do not exist whose failures are remembered (in memory) for the same lock-out
_MAX_GHOSTS = 10_000

_KEYS = ("id", "username", "role", "must_change", "cameras", "created_at", "created_by", "disabled_at",
         "failed_logins", "locked_until", "last_login_at", "password_changed_at")  # fmt: skip


class UnknownAccount(AuthError):
    """No account has this id."""


class AccountExists(AuthError):
    """An account with this user name exists already (names are compared without case)."""


class SignInRefused(AuthError):
    """A sign-in that did not succeed: wrong name or password (the message does not say which), or locked."""

    def __init__(self, message: str, *, locked_until: float | None = None) -> None:
        super().__init__(message)
        self.locked_until = locked_until


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    username: str
    role: Role
    must_change: bool
    cameras: bool
    disabled: bool

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "username": self.username, "role": self.role.label, "must_change": self.must_change,
                "cameras": self.cameras, "disabled": self.disabled}  # fmt: skip


def check_username(username: str) -> str:
    if not isinstance(username, str) or not USERNAME_PATTERN.match(username):
        raise AuthError("a user name is 1-64 letters, digits or _ . @ - (starting with a letter or digit)")
    return username


def check_password(password: str, username: str) -> str:
    if not isinstance(password, str) or not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise AuthError(f"a password is {MIN_PASSWORD_LENGTH}-{MAX_PASSWORD_LENGTH} characters long")
    if password.strip().lower() == username.lower():
        raise AuthError("a password must not be the user name")
    return password


def account_from_row(row: tuple[Any, ...]) -> Account:
    return Account(int(row[0]), str(row[1]), Role.parse(str(row[2])), bool(row[3]), bool(row[4]), row[5] is not None)


class Accounts:
    """The accounts table as a service: create, sign-in check, change, list, lock-out, bootstrap."""

    def __init__(
        self, store: Store, *, cost: ScryptCost = DEFAULT_COST, clock: Callable[[], float] = time.time,
        max_failures: int = MAX_FAILURES, lock_s: float = LOCK_S,
    ) -> None:  # fmt: skip
        self._store = store
        self._max_failures = max_failures
        self._lock_s = lock_s
        self._cost = cost
        self._clock = clock
        self._lock = threading.Lock()
        self._ghosts: OrderedDict[str, tuple[int, float | None]] = OrderedDict()

    # ------------------------------------------------------------ reads

    def get(self, account_id: int) -> Account:
        rows = self._store.query(
            "SELECT id, username, role, must_change, cameras, disabled_at FROM accounts WHERE id = ?", (account_id,)
        )
        if not rows:
            raise UnknownAccount(f"no account with id {account_id}")
        return account_from_row(rows[0])

    def list(self) -> list[dict[str, Any]]:
        rows = self._store.select(f"SELECT {', '.join(_KEYS)} FROM accounts ORDER BY id", (), _KEYS)
        for row in rows:
            row["must_change"], row["cameras"] = bool(row["must_change"]), bool(row["cameras"])
            row["disabled"] = row["disabled_at"] is not None
            row["locked"] = bool(row["locked_until"] and row["locked_until"] > self._clock())
        return rows

    def count(self) -> int:
        return int(self._store.query("SELECT COUNT(*) FROM accounts")[0][0])

    # ------------------------------------------------------------ writes

    def create(
        self, username: str, role: Role | str, password: str, *, cameras: bool = False, must_change: bool = True,
        created_by: str | None = None,
    ) -> Account:  # fmt: skip
        """A new account. An admin's invitation sets ``must_change``: the first sign-in changes the password."""
        check_username(username)
        role = role if isinstance(role, Role) else Role.parse(role)
        check_password(password, username)
        digest = hash_password(password, self._cost)
        now = self._clock()
        with self._store.transaction() as conn:
            if conn.execute("SELECT 1 FROM accounts WHERE username = ?", (username,)).fetchone():
                raise AccountExists(f"an account named {username!r} exists already")
            cur = conn.execute(
                "INSERT INTO accounts (username, role, password_hash, must_change, cameras, created_at, created_by, "
                "password_changed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (username, role.label, digest, int(must_change), int(cameras), now, created_by, now),
            )
        return self.get(int(cur.lastrowid or 0))

    def update(
        self, account_id: int, *, role: Role | None = None, cameras: bool | None = None,
        disabled: bool | None = None, unlock: bool = False,
    ) -> Account:  # fmt: skip
        """Change an account's role, camera permission, disabled state, or lift its lock-out. Disabling ends its
        sessions; so does lowering its role (a session must not keep what its account lost)."""
        before = self.get(account_id)
        sets: list[str] = []
        args: list[Any] = []
        if role is not None:
            sets.append("role = ?")
            args.append(role.label)
        if cameras is not None:
            sets.append("cameras = ?")
            args.append(int(cameras))
        if disabled is not None:
            sets.append("disabled_at = ?")
            args.append(self._clock() if disabled else None)
        if unlock:
            sets.append("failed_logins = 0, locked_until = NULL")
        if not sets:
            return before
        with self._store.transaction() as conn:
            conn.execute(f"UPDATE accounts SET {', '.join(sets)} WHERE id = ?", (*args, account_id))
            demoted = role is not None and role < before.role
            lost_cameras = cameras is False and before.cameras
            if disabled or demoted or lost_cameras:
                conn.execute("DELETE FROM sessions WHERE account_id = ?", (account_id,))
        return self.get(account_id)

    def delete(self, account_id: int) -> None:
        self.get(account_id)
        with self._store.transaction() as conn:
            conn.execute("DELETE FROM sessions WHERE account_id = ?", (account_id,))
            conn.execute("DELETE FROM accounts WHERE id = ?", (account_id,))

    def set_password(
        self, account_id: int, password: str, *, must_change: bool, keep_session: int | None = None
    ) -> None:
        """Store a new password. Every session of the account ends but ``keep_session`` (the one that changed it)."""
        account = self.get(account_id)
        check_password(password, account.username)
        digest = hash_password(password, self._cost)
        with self._store.transaction() as conn:
            conn.execute(
                "UPDATE accounts SET password_hash = ?, must_change = ?, password_changed_at = ?, failed_logins = 0, "
                "locked_until = NULL WHERE id = ?",
                (digest, int(must_change), self._clock(), account_id),
            )
            conn.execute("DELETE FROM sessions WHERE account_id = ? AND id IS NOT ?", (account_id, keep_session))

    def reset_password(self, account_id: int) -> str:
        """A one-time password for the account (changed at its next sign-in); returned once, never stored."""
        password = secrets.token_urlsafe(12)
        self.set_password(account_id, password, must_change=True)
        return password

    def change_password(self, account_id: int, current: str, new: str, *, session_id: int | None = None) -> None:
        """The account holder's own change: the current password is checked first."""
        rows = self._store.query("SELECT password_hash FROM accounts WHERE id = ?", (account_id,))
        if not rows:
            raise UnknownAccount(f"no account with id {account_id}")
        if not verify_password(current, str(rows[0][0])):
            raise SignInRefused("the current password is not right")
        if new == current:
            raise AuthError("the new password must differ from the current one")
        self.set_password(account_id, new, must_change=False, keep_session=session_id)

    # ------------------------------------------------------------ sign-in

    def check(self, username: str, password: str) -> Account:
        """The account ``username`` signs in as with ``password``; :class:`SignInRefused` otherwise (wrong name or
        password — one message —, locked, or disabled)."""
        now = self._clock()
        wrong = SignInRefused("wrong user name or password")
        if not isinstance(username, str) or not USERNAME_PATTERN.match(username) or len(password) > MAX_PASSWORD_LENGTH:
            raise wrong
        rows = self._store.query(
            "SELECT id, username, role, must_change, cameras, disabled_at, password_hash, failed_logins, locked_until "
            "FROM accounts WHERE username = ?",
            (username,),
        )
        if not rows:
            self._ghost_attempt(username.lower(), now)
            raise wrong
        row = rows[0]
        account = account_from_row(row)
        locked_until = row[8]
        if locked_until is not None and locked_until > now:
            raise SignInRefused(LOCKED, locked_until=locked_until)
        if not verify_password(password, str(row[6])):
            failures = int(row[7]) + 1
            lock = now + self._lock_s if failures >= self._max_failures else None
            with self._store.transaction() as conn:
                conn.execute(
                    "UPDATE accounts SET failed_logins = ?, locked_until = ? WHERE id = ?",
                    (0 if lock else failures, lock, account.id),
                )
            if lock is not None:
                log.warning("accounts: %r locked for %.0f s after %d failed sign-ins", account.username,
                            self._lock_s, failures)  # fmt: skip
                raise SignInRefused(LOCKED, locked_until=lock)
            raise wrong
        if account.disabled:
            raise SignInRefused("this account is disabled")
        with self._store.transaction() as conn:
            conn.execute(
                "UPDATE accounts SET failed_logins = 0, locked_until = NULL, last_login_at = ? WHERE id = ?",
                (now, account.id),
            )
            if needs_rehash(str(row[6]), self._cost):
                conn.execute("UPDATE accounts SET password_hash = ? WHERE id = ?",
                             (hash_password(password, self._cost), account.id))  # fmt: skip
        return account

    def _ghost_attempt(self, name: str, now: float) -> None:
        """A sign-in as a user name that does not exist: as slow, and locked out the same way, as a real one."""
        verify_password("not the password", dummy_hash())
        with self._lock:
            failures, until = self._ghosts.pop(name, (0, None))
            if until is not None and until > now:
                self._ghosts[name] = (failures, until)
                raise SignInRefused(LOCKED, locked_until=until)
            failures += 1
            lock = now + self._lock_s if failures >= self._max_failures else None
            self._ghosts[name] = (0 if lock else failures, lock)
            while len(self._ghosts) > _MAX_GHOSTS:
                self._ghosts.popitem(last=False)
        if lock is not None:
            raise SignInRefused(LOCKED, locked_until=lock)

    # ------------------------------------------------------------ first start

    def bootstrap(self) -> tuple[str, Path] | None:
        """With no account at all: create :data:`FIRST_ADMIN` with a one-time password (must be changed at the
        first sign-in), write it to :data:`FIRST_ADMIN_FILE` (0600) beside the database, and return it and the
        file. ``None`` when an account exists."""
        if self.count() > 0:
            return None
        password = secrets.token_urlsafe(12)
        self.create(FIRST_ADMIN, Role.ADMIN, password, cameras=True, must_change=True, created_by="first start")
        path = self._store.path.parent / FIRST_ADMIN_FILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, (password + "\n").encode("ascii"))
        finally:
            os.close(fd)
        os.chmod(path, 0o600)
        return password, path
