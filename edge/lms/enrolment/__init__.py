"""Agent enrolment: agent enrolment tokens, the exchange of a token for per-agent broker credentials
(``Enrolments``), and those credentials on the site broker (``BrokerCredentials``, Mosquitto's dynamic-security
plugin)."""

from __future__ import annotations

from edge.lms.enrolment.broker_credentials import BrokerCredentials, CredentialsError
from edge.lms.enrolment.enrolment_rows import EnrolmentRows
from edge.lms.enrolment.enrolments import (
    MAX_TOKEN_LENGTH,
    TOKEN_PREFIX,
    BrokerAddress,
    Enrolment,
    EnrolmentError,
    Enrolments,
)

__all__ = [
    "MAX_TOKEN_LENGTH",
    "TOKEN_PREFIX",
    "BrokerAddress",
    "BrokerCredentials",
    "CredentialsError",
    "Enrolment",
    "EnrolmentError",
    "EnrolmentRows",
    "Enrolments",
]
