"""The tenant's first admin token, issued by the cloud's own ``TokenService`` against the tenant's tables. Like every
API token it expires (the service's default, 90 days): use it to create named tokens (``POST /api/tokens``)."""

from __future__ import annotations

from dataclasses import dataclass

from infra.aws import cloud_app
from infra.aws.errors import AwsError, InfraError

FIRST_ADMIN_NAME = "first admin"
CREATED_BY = "classtop tenant deploy"


@dataclass(frozen=True, slots=True)
class IssuedAdmin:
    secret: str
    token_table: str
    #: its id (``GET /api/tokens``, ``DELETE /api/tokens/{id}``) and expiry (epoch seconds)
    token_id: str = ""
    expires_at: float = 0.0


def create_first_admin(tenant: str, stage: str, *, region: str, endpoint_url: str | None) -> IssuedAdmin:
    """Write an admin token into ``classtop-{tenant}-{stage}-token``; return the secret (shown once)."""
    cloud_app.ensure_importable()
    from chalicelib import models
    from chalicelib.config import Settings
    from chalicelib.errors import CloudError
    from chalicelib.repositories.token import TokenRepository
    from chalicelib.services.tokens import TokenService

    try:
        settings = Settings(tenant=tenant, stage=stage, region=region, aws_endpoint=endpoint_url)
        models.bind(settings)
        issued = TokenService(TokenRepository()).create("admin", FIRST_ADMIN_NAME, created_by=CREATED_BY)
    except CloudError as exc:
        raise AwsError(f"cannot create the first admin token: {exc}") from None
    except InfraError:
        raise
    except Exception as exc:  # botocore errors surface through PynamoDB in several shapes
        raise AwsError(f"cannot create the first admin token: {type(exc).__name__}: {exc}") from None
    finally:
        models.unbind()
    return IssuedAdmin(secret=issued.secret, token_table=settings.table_name("token"),
                       token_id=issued.token.token_id, expires_at=issued.token.expires_at)
