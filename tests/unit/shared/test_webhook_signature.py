"""Webhook signatures: what a receiver accepts and what it refuses."""

from __future__ import annotations

import pytest

from shared.errors import SignatureError
from shared.webhook_signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, signed_headers, verify

SECRET = "s3cret-s3cret-s3cret"
BODY = b'{"delivery_id":"d1","alert":{}}'


def test_a_fresh_signed_delivery_verifies_whatever_the_header_case() -> None:
    headers = signed_headers(SECRET, 1_000, BODY)
    assert verify(SECRET, headers, BODY, now=1_010) == 1_000
    assert verify(SECRET, {k.lower(): v for k, v in headers.items()}, BODY, now=1_010) == 1_000


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda h, b: (h, b + b" "), "does not match"),
        (lambda h, b: ({**h, TIMESTAMP_HEADER: "1001"}, b), "does not match"),
        (lambda h, b: ({TIMESTAMP_HEADER: h[TIMESTAMP_HEADER]}, b), "not signed"),
        (lambda h, b: ({**h, TIMESTAMP_HEADER: "-5"}, b), "whole epoch seconds"),
        (lambda h, b: ({**h, TIMESTAMP_HEADER: "1e3"}, b), "whole epoch seconds"),
    ],
)
def test_tampered_or_unsigned_deliveries_are_refused(change, says: str) -> None:  # type: ignore[no-untyped-def]
    headers, body = change(signed_headers(SECRET, 1_000, BODY), BODY)
    with pytest.raises(SignatureError, match=says):
        verify(SECRET, headers, body, now=1_000)


def test_an_old_delivery_replayed_later_is_refused_by_its_age() -> None:
    headers = signed_headers(SECRET, 1_000, BODY)
    with pytest.raises(SignatureError, match="too old"):
        verify(SECRET, headers, BODY, now=1_000 + 301)


def test_another_secret_does_not_verify() -> None:
    headers = signed_headers(SECRET, 1_000, BODY)
    assert headers[SIGNATURE_HEADER].startswith("v1=")
    with pytest.raises(SignatureError):
        verify("another-secret-of-16+", headers, BODY, now=1_000)
