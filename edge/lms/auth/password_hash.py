"""Password hashes for the console's local accounts: scrypt (memory-hard, in Python's standard library).

A hash is stored as ``scrypt$<log2 N>$<r>$<p>$<salt b64>$<key b64>``, so that the cost can be raised later and
old hashes still verify (and are re-hashed at the next sign-in, :func:`needs_rehash`). The default cost is one
of OWASP's scrypt settings (N=2^15, r=8, p=3: 32 MiB per hash). Hashing is memory-hard by design, so at most
:data:`MAX_CONCURRENT` run at once: a flood of sign-in attempts queues instead of exhausting the LMS's memory.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass
from typing import Final

#: Passwords are bounded: long enough for passphrases, short enough that hashing one costs what it should.
MIN_PASSWORD_LENGTH: Final = 10
MAX_PASSWORD_LENGTH: Final = 256
MAX_CONCURRENT: Final = 2
_SCHEME = "scrypt"
_lock = threading.BoundedSemaphore(MAX_CONCURRENT)


@dataclass(frozen=True, slots=True)
class ScryptCost:
    log2_n: int = 15
    r: int = 8
    p: int = 3

    @property
    def maxmem(self) -> int:
        return int(256 * self.r * (1 << self.log2_n) + 16 * 1024 * 1024)


DEFAULT_COST: Final = ScryptCost()


def _derive(password: str, salt: bytes, cost: ScryptCost) -> bytes:
    with _lock:
        return hashlib.scrypt(
            password.encode("utf-8"), salt=salt, n=2**cost.log2_n, r=cost.r, p=cost.p, maxmem=cost.maxmem, dklen=32
        )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, cost: ScryptCost = DEFAULT_COST) -> str:
    salt = secrets.token_bytes(16)
    key = _derive(password, salt, cost)
    return f"{_SCHEME}${cost.log2_n}${cost.r}${cost.p}${_b64(salt)}${_b64(key)}"


def _parse(stored: str) -> tuple[ScryptCost, bytes, bytes] | None:
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != _SCHEME or not all(p.isdigit() for p in parts[1:4]):
        return None
    cost = ScryptCost(int(parts[1]), int(parts[2]), int(parts[3]))
    if not (10 <= cost.log2_n <= 20 and 1 <= cost.r <= 32 and 1 <= cost.p <= 16):
        return None
    try:
        return cost, base64.b64decode(parts[4], validate=True), base64.b64decode(parts[5], validate=True)
    except ValueError:
        return None


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (constant-time comparison; ``False`` for a malformed hash)."""
    parsed = _parse(stored)
    if parsed is None or len(password) > MAX_PASSWORD_LENGTH:
        return False
    cost, salt, key = parsed
    return hmac.compare_digest(_derive(password, salt, cost), key)


def needs_rehash(stored: str, cost: ScryptCost = DEFAULT_COST) -> bool:
    parsed = _parse(stored)
    return parsed is None or parsed[0] != cost


@functools.cache
def dummy_hash() -> str:
    """Verified against when a user name is unknown, so that its answer takes as long as a wrong password's."""
    return hash_password(secrets.token_urlsafe(16))
