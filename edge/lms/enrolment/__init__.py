"""Agent enrolment: enrolment tokens, the exchange of a token for per-agent broker credentials, and those
credentials on the site broker (Mosquitto's dynamic-security plugin)."""

from __future__ import annotations

from edge.lms.enrolment.broker_credentials import BrokerCredentials, CredentialsError
from edge.lms.enrolment.enrolments import MAX_TOKEN_LENGTH, BrokerAddress, Enrollment, EnrollmentError

__all__ = [
    "MAX_TOKEN_LENGTH",
    "BrokerAddress",
    "BrokerCredentials",
    "CredentialsError",
    "Enrollment",
    "EnrollmentError",
]
