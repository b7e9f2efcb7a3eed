"""boto3 clients of the deploy tool, created lazily, and the translation of AWS errors into :mod:`errors`."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
)
from botocore.parsers import ResponseParserError

from infra.aws.errors import AwsError, CredentialsError, InfraError, StackExists, StackNotFound

_CONFIG = Config(retries={"max_attempts": 4, "mode": "standard"}, connect_timeout=10, read_timeout=60)


class Clients:
    """One session; a client per service on first use. ``endpoint_url`` sends every service to one URL (moto)."""

    def __init__(self, *, region: str | None = None, endpoint_url: str | None = None,
                 profile: str | None = None) -> None:
        self.endpoint_url = endpoint_url
        self._region = region
        self._profile = profile
        self._session: boto3.Session | None = None
        self._clients: dict[str, Any] = {}

    @property
    def session(self) -> boto3.Session:
        if self._session is None:
            with aws_errors("open an AWS session"):
                self._session = boto3.Session(region_name=self._region, profile_name=self._profile)
        return self._session

    @property
    def region(self) -> str:
        region = self.session.region_name
        if not region:
            raise CredentialsError("no AWS region: pass --region or set AWS_DEFAULT_REGION")
        return region

    def client(self, service: str) -> Any:
        if service not in self._clients:
            with aws_errors(f"create the {service} client"):
                self._clients[service] = self.session.client(
                    service, region_name=self.region, endpoint_url=self.endpoint_url, config=_CONFIG  # type: ignore[call-overload]
                )
        return self._clients[service]

    def account_id(self) -> str:
        with aws_errors("look up the AWS account (sts:GetCallerIdentity)"):
            return str(self.client("sts").get_caller_identity()["Account"])


@contextlib.contextmanager
def aws_errors(doing: str) -> Iterator[None]:
    """Translate botocore errors raised while ``doing`` something into :class:`InfraError`s."""
    try:
        yield
    except InfraError:
        raise
    except (NoCredentialsError, PartialCredentialsError):
        raise CredentialsError(
            f"cannot {doing}: no AWS credentials (set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY; for the local twin any non-empty values)"
        ) from None
    except NoRegionError:
        raise CredentialsError(f"cannot {doing}: no AWS region (pass --region or set AWS_DEFAULT_REGION)") from None
    except EndpointConnectionError as exc:
        raise AwsError(f"cannot {doing}: cannot reach {exc.kwargs.get('endpoint_url', 'the endpoint')}") from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        message = str(error.get("Message", "")).strip()
        if code == "AlreadyExistsException":
            raise StackExists(f"cannot {doing}: {message or 'already exists'}") from None
        if code == "ValidationError" and "does not exist" in message:
            raise StackNotFound(f"cannot {doing}: {message}") from None
        if code in ("InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch",
                    "ExpiredToken", "ExpiredTokenException", "AccessDenied", "AccessDeniedException"):
            raise CredentialsError(f"cannot {doing}: {code}: {message}") from None
        raise AwsError(f"cannot {doing}: {code}: {message}".rstrip(": ")) from None
    except BotoCoreError as exc:
        raise AwsError(f"cannot {doing}: {exc}") from None
    except ResponseParserError as exc:  # moto answers some failures with a body the client cannot parse
        raise AwsError(f"cannot {doing}: the endpoint answered with an error: {_body(exc)}") from None


def _body(exc: ResponseParserError) -> str:
    text = str(exc)
    start = text.find("b'")
    body = text[start + 2:].rstrip("'") if start >= 0 else text
    title = re.search(r"<title>(.*?)</title>", body, re.IGNORECASE | re.DOTALL)
    if title:  # an HTML error page (a 500 from the endpoint)
        return f"HTTP {title.group(1).strip()}"
    return re.sub(r"\s+", " ", body).strip()[:500]
