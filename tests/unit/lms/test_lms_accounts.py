"""The console's local accounts and sessions on a real SQLite file: hashing, lock-out, first admin, sessions."""

from __future__ import annotations

import stat

import pytest

from edge.lms.auth import AccountExists, Accounts, AuthError, Role, Sessions, SignInRefused, UnknownAccount
from edge.lms.auth.accounts import FIRST_ADMIN, FIRST_ADMIN_FILE, LOCK_S, MAX_FAILURES
from edge.lms.auth.password_hash import ScryptCost, hash_password, needs_rehash, verify_password
from edge.lms.auth.sessions import IDLE_S, MAX_AGE_S
from edge.lms.store import Store

CHEAP = ScryptCost(log2_n=10, r=8, p=1)  # the tests' own cost: the same code, less memory and time
PASSWORD = "correct horse battery"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def accounts(store: Store, clock: Clock) -> Accounts:
    return Accounts(store, cost=CHEAP, clock=clock)


def test_passwords_are_stored_as_scrypt_hashes_that_verify_and_record_their_cost() -> None:
    stored = hash_password(PASSWORD, CHEAP)
    assert stored.startswith("scrypt$10$8$1$") and PASSWORD not in stored
    assert verify_password(PASSWORD, stored) and not verify_password(PASSWORD + "!", stored)
    assert hash_password(PASSWORD, CHEAP) != stored  # salted
    assert needs_rehash(stored) and not needs_rehash(stored, CHEAP)
    for broken in ("", "scrypt$99$8$1$AA==$AA==", "md5$x", "scrypt$10$8$1$!!$AA==", stored.replace("$8$", "$x$")):
        assert not verify_password(PASSWORD, broken)


def test_an_account_signs_in_with_its_password_only_and_nothing_leaks_of_the_hash(
    store: Store, accounts: Accounts
) -> None:
    account = accounts.create("alice", "operator", PASSWORD, must_change=False)
    assert accounts.check("alice", PASSWORD) == account
    assert accounts.check("ALICE", PASSWORD).id == account.id  # names compare without case
    with pytest.raises(SignInRefused, match="wrong user name or password"):
        accounts.check("alice", "wrong password!")
    (row,) = accounts.list()
    assert "password_hash" not in row and row["last_login_at"] is not None
    assert PASSWORD not in str(store.query("SELECT * FROM accounts"))


@pytest.mark.parametrize(
    ("username", "password", "says"),
    [
        ("", PASSWORD, "user name"),
        ("bad name", PASSWORD, "user name"),
        ("x" * 65, PASSWORD, "user name"),
        ("-dash", PASSWORD, "user name"),
        ("carol", "short", "10-256"),
        ("carol", "p" * 257, "10-256"),
        ("carol-the-user", "CAROL-THE-USER", "not be the user name"),
    ],
)
def test_bad_names_and_passwords_are_refused_and_nothing_is_stored(
    accounts: Accounts, username: str, password: str, says: str
) -> None:
    with pytest.raises(AuthError, match=says):
        accounts.create(username, "viewer", password)
    assert accounts.list() == []


def test_a_name_is_taken_once_whatever_its_case(accounts: Accounts) -> None:
    accounts.create("Dave", "viewer", PASSWORD)
    with pytest.raises(AccountExists):
        accounts.create("dave", "admin", PASSWORD)
    with pytest.raises(AuthError, match="unknown role"):
        accounts.create("erin", "root", PASSWORD)


def test_repeated_failures_lock_the_account_even_against_the_right_password_until_the_lock_expires(
    accounts: Accounts, clock: Clock
) -> None:
    accounts.create("frank", "admin", PASSWORD, must_change=False)
    for _ in range(MAX_FAILURES - 1):
        with pytest.raises(SignInRefused, match="wrong"):
            accounts.check("frank", "guess-guess-guess")
    with pytest.raises(SignInRefused, match="locked") as locked:
        accounts.check("frank", "guess-guess-guess")
    assert locked.value.locked_until == clock.now + LOCK_S
    with pytest.raises(SignInRefused, match="locked"):
        accounts.check("frank", PASSWORD)
    clock.now += LOCK_S + 1
    assert accounts.check("frank", PASSWORD).username == "frank"


def test_an_admin_unlocks_an_account_at_once(accounts: Accounts) -> None:
    account = accounts.create("gina", "viewer", PASSWORD, must_change=False)
    for _ in range(MAX_FAILURES):
        with pytest.raises(SignInRefused):
            accounts.check("gina", "guess-guess-guess")
    assert accounts.list()[0]["locked"]
    accounts.update(account.id, unlock=True)
    assert accounts.check("gina", PASSWORD).id == account.id


def test_unknown_names_are_answered_like_wrong_passwords_and_locked_out_the_same_way(accounts: Accounts) -> None:
    accounts.create("henry", "viewer", PASSWORD)
    messages = set()
    for name in ("henry", "nobody"):
        for _ in range(MAX_FAILURES - 1):
            with pytest.raises(SignInRefused) as refused:
                accounts.check(name, "guess-guess-guess")
            messages.add(str(refused.value))
        with pytest.raises(SignInRefused, match="locked"):
            accounts.check(name, "guess-guess-guess")
    assert messages == {"wrong user name or password"}


def test_a_disabled_account_cannot_sign_in_and_loses_its_sessions(store: Store, accounts: Accounts) -> None:
    sessions = Sessions(store)
    account = accounts.create("ivan", "operator", PASSWORD, must_change=False)
    token, _ = sessions.open(account)
    accounts.update(account.id, disabled=True)
    assert sessions.verify(token) is None
    with pytest.raises(SignInRefused, match="disabled"):
        accounts.check("ivan", PASSWORD)


def test_losing_a_role_or_the_camera_permission_ends_sessions_but_gaining_does_not(
    store: Store, accounts: Accounts
) -> None:
    sessions = Sessions(store)
    account = accounts.create("jane", "operator", PASSWORD, cameras=True, must_change=False)
    token, _ = sessions.open(account)
    accounts.update(account.id, role=Role.ADMIN)
    assert sessions.verify(token) is not None
    accounts.update(account.id, cameras=False)
    assert sessions.verify(token) is None
    token, _ = sessions.open(accounts.get(account.id))
    accounts.update(account.id, role=Role.VIEWER)
    assert sessions.verify(token) is None


def test_a_password_change_keeps_the_changing_session_and_ends_the_others(store: Store, accounts: Accounts) -> None:
    sessions = Sessions(store)
    account = accounts.create("kim", "viewer", PASSWORD)
    here, session = sessions.open(account)
    elsewhere, _ = sessions.open(account)
    with pytest.raises(SignInRefused, match="current password"):
        accounts.change_password(account.id, "not the password", "a brand new password", session_id=session.id)
    with pytest.raises(AuthError, match="differ"):
        accounts.change_password(account.id, PASSWORD, PASSWORD, session_id=session.id)
    accounts.change_password(account.id, PASSWORD, "a brand new password", session_id=session.id)
    assert sessions.verify(here) is not None and sessions.verify(elsewhere) is None
    assert not accounts.get(account.id).must_change
    assert accounts.check("kim", "a brand new password").id == account.id


def test_a_reset_gives_a_one_time_password_that_must_be_changed(accounts: Accounts) -> None:
    account = accounts.create("leo", "viewer", PASSWORD, must_change=False)
    one_time = accounts.reset_password(account.id)
    signed_in = accounts.check("leo", one_time)
    assert signed_in.must_change
    with pytest.raises(SignInRefused):
        accounts.check("leo", PASSWORD)
    with pytest.raises(UnknownAccount):
        accounts.reset_password(999)


def test_sessions_end_when_idle_too_long_or_too_old(store: Store, accounts: Accounts, clock: Clock) -> None:
    sessions = Sessions(store, clock=clock)
    account = accounts.create("mia", "viewer", PASSWORD)
    token, session = sessions.open(account)
    assert sessions.verify(token) == session and sessions.verify(token + "x") is None
    assert sessions.verify(None) is None and sessions.verify("t" * 10_000) is None
    clock.now += IDLE_S + 1
    assert sessions.verify(token) is None
    token, _ = sessions.open(account)
    for _ in range(int(MAX_AGE_S // 3600) + 1):  # active every hour, never idle: still ends at the maximum age
        clock.now += 3600
        alive = sessions.verify(token)
    assert alive is None
    assert token not in str(store.query("SELECT * FROM sessions"))


def test_the_csrf_token_is_per_session(store: Store, accounts: Accounts) -> None:
    sessions = Sessions(store)
    account = accounts.create("ned", "viewer", PASSWORD)
    _, one = sessions.open(account)
    _, two = sessions.open(account)
    assert Sessions.csrf_matches(one, one.csrf_token)
    assert not Sessions.csrf_matches(one, two.csrf_token)
    assert not Sessions.csrf_matches(one, None) and not Sessions.csrf_matches(one, "")


def test_the_first_start_creates_one_admin_with_a_one_time_password_in_a_private_file(accounts: Accounts) -> None:
    first = accounts.bootstrap()
    assert first is not None
    password, path = first
    assert path.name == FIRST_ADMIN_FILE and path.read_text().strip() == password
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    admin = accounts.check(FIRST_ADMIN, password)
    assert admin.role is Role.ADMIN and admin.must_change and admin.cameras
    assert accounts.bootstrap() is None and accounts.count() == 1
