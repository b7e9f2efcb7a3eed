"""The exception hierarchy of the infrastructure tools (template generator and deploy tool).

Every error the tools expect carries a message a person can act on; the command-line entry points print it
and exit non-zero (never a traceback). AWS ``ClientError``s are translated where the clients are called.
"""

from __future__ import annotations


class InfraError(Exception):
    """Base of every expected failure of ``infra.aws``. ``exit_code`` is what the command line returns."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(InfraError):
    """Bad input on the command line (invalid tenant id, stage, URL...)."""

    exit_code = 2


class BuildError(InfraError):
    """The template or the Lambda package could not be built (chalice package failed, bad app...)."""


class CredentialsError(InfraError):
    """No usable AWS credentials or region."""


class StackNotFound(InfraError):
    """The tenant has no stack (unknown tenant or stage)."""


class StackExists(InfraError):
    """``deploy`` of a tenant whose stack already exists (use ``update``)."""


class DataKept(InfraError):
    """``deploy`` of a tenant whose deleted stack kept its tables and bucket (``delete --purge`` them first)."""


class StackFailed(InfraError):
    """CloudFormation refused the request or the stack ended in a failed or rolled-back state."""


class AwsError(InfraError):
    """Any other AWS error (the message names the call and AWS's error code)."""
