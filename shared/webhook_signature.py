"""How every webhook this system sends is signed, and how a receiver checks it (docs/alerts.md#webhooks).

The LMS (a site's webhook) and the cloud (a tenant's webhooks) sign the same way, so one receiver serves both::

    X-ClassTop-Timestamp: 1767225600
    X-ClassTop-Signature: v1=<hex HMAC-SHA256(secret, "{timestamp}.{raw body}")>

The timestamp is inside the signed text, so an old delivery replayed later is refused by its age
(:data:`DEFAULT_TOLERANCE_S`); a receiver that must refuse a replay within the tolerance too keeps the ids of
the deliveries it has seen (each body carries a unique ``delivery_id``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Final

from shared.errors import SignatureError

TIMESTAMP_HEADER: Final = "X-ClassTop-Timestamp"
SIGNATURE_HEADER: Final = "X-ClassTop-Signature"
SCHEME: Final = "v1"
#: How old (or how far in the future) a delivery's timestamp may be.
DEFAULT_TOLERANCE_S: Final = 300.0
#: The shortest secret accepted when a webhook is configured (bytes of its UTF-8 text).
MIN_SECRET_BYTES: Final = 16


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-ClassTop-Signature`` value of ``body`` sent at ``timestamp`` (whole epoch seconds)."""
    mac = hmac.new(secret.encode(), f"{int(timestamp)}.".encode() + body, hashlib.sha256)
    return f"{SCHEME}={mac.hexdigest()}"


def signed_headers(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The headers a sender adds to a delivery of ``body``."""
    return {TIMESTAMP_HEADER: str(int(timestamp)), SIGNATURE_HEADER: signature(secret, timestamp, body)}


def verify(
    secret: str, headers: Mapping[str, str], body: bytes, *, now: float, tolerance_s: float = DEFAULT_TOLERANCE_S
) -> int:
    """Check a received delivery; return its timestamp. Raise :class:`SignatureError` for a missing or malformed
    header, a timestamp outside ``tolerance_s`` of ``now``, or a signature that does not match (compared in
    constant time). Header names are matched case-insensitively."""
    lowered = {k.lower(): v for k, v in headers.items()}
    raw_ts = lowered.get(TIMESTAMP_HEADER.lower())
    given = lowered.get(SIGNATURE_HEADER.lower())
    if raw_ts is None or given is None:
        raise SignatureError("the delivery is not signed")
    if not raw_ts.isdigit() or len(raw_ts) > 12:
        raise SignatureError("the delivery's timestamp is not whole epoch seconds")
    timestamp = int(raw_ts)
    if abs(now - timestamp) > tolerance_s:
        raise SignatureError("the delivery's timestamp is too old or in the future (a replay?)")
    if not hmac.compare_digest(given.encode(), signature(secret, timestamp, body).encode()):
        raise SignatureError("the delivery's signature does not match its body")
    return timestamp
