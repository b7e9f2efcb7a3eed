"""Site identities in the AWS IoT registry (boto3 ``iot``): a thing and an active certificate with the site
policy attached, made all-or-nothing, and revoked (certificate deactivated and deleted, thing deleted).

The certificate is signed from the site's CSR (``CreateCertificateFromCsr``): the site made its key pair and keeps
the private key; nothing here ever holds one."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters.aws import AwsAdapter, describe, error_code
from chalicelib.errors import BadRequest, UpstreamError

if TYPE_CHECKING:
    from mypy_boto3_iot import IoTClient
    from mypy_boto3_iot.type_defs import AttributePayloadTypeDef
else:
    IoTClient = Any
    AttributePayloadTypeDef = dict

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SiteIdentity:
    thing_name: str
    certificate_id: str
    certificate_arn: str
    #: returned at enrolment (public, but the cloud keeps only its id and ARN)
    certificate_pem: str = ""


class IdentityIssuer(Protocol):
    def issue(self, thing_name: str, policy_name: str, site_id: str, csr: str,
              thing_type: str | None = None) -> SiteIdentity: ...

    def revoke(self, thing_name: str, certificate_id: str | None, certificate_arn: str | None,
               policy_name: str, *, delete_thing: bool = True) -> None: ...


class IotRegistry(AwsAdapter[IoTClient]):
    """The production :class:`IdentityIssuer`. ``client`` is injected, or created on first use (once)."""

    SERVICE = "iot"

    def issue(self, thing_name: str, policy_name: str, site_id: str, csr: str,
              thing_type: str | None = None) -> SiteIdentity:
        """Create (or reuse) the thing — with the attribute ``site_id`` the site policy's variables read, and
        ``thing_type`` if given — an active certificate signed from ``csr`` (checked by the caller), attach the
        policy and the thing. Undoes what it made when a later step fails, and raises :class:`UpstreamError`
        (:class:`BadRequest` when AWS refuses the CSR itself)."""
        made_thing = False
        cert: dict[str, Any] | None = None
        attributes: AttributePayloadTypeDef = {"attributes": {"site_id": site_id}, "merge": True}
        try:
            try:
                self.client.describe_thing(thingName=thing_name)
                self.client.update_thing(thingName=thing_name, attributePayload=attributes)
            except self.client.exceptions.ResourceNotFoundException:
                if thing_type is None:
                    self.client.create_thing(thingName=thing_name, attributePayload=attributes)
                else:
                    self.client.create_thing(thingName=thing_name, thingTypeName=thing_type,
                                             attributePayload=attributes)
                made_thing = True
            try:
                cert = dict(self.client.create_certificate_from_csr(certificateSigningRequest=csr, setAsActive=True))
            except ClientError as exc:
                if error_code(exc) != "InvalidRequestException":
                    raise
                self._undo(thing_name if made_thing else None, None, policy_name)
                raise BadRequest(f"csr: refused by AWS IoT: {describe(exc)}") from exc
            self.client.attach_policy(policyName=policy_name, target=cert["certificateArn"])
            self.client.attach_thing_principal(thingName=thing_name, principal=cert["certificateArn"])
        except (ClientError, BotoCoreError) as exc:
            self._undo(thing_name if made_thing else None, cert, policy_name)
            raise UpstreamError(f"IoT registry: could not issue an identity for {thing_name}: {describe(exc)}") \
                from exc
        return SiteIdentity(thing_name, cert["certificateId"], cert["certificateArn"], cert["certificatePem"])

    def revoke(self, thing_name: str, certificate_id: str | None, certificate_arn: str | None,
               policy_name: str, *, delete_thing: bool = True) -> None:
        """Deactivate and delete the certificate and (unless ``delete_thing`` is false) delete the thing; parts
        already gone are skipped."""
        try:
            if certificate_id and certificate_arn:
                self._quietly(self.client.detach_thing_principal, thingName=thing_name, principal=certificate_arn)
                self._quietly(self.client.detach_policy, policyName=policy_name, target=certificate_arn)
                self._quietly(self.client.update_certificate, certificateId=certificate_id, newStatus="INACTIVE")
                self._quietly(self.client.delete_certificate, certificateId=certificate_id, forceDelete=True)
            if delete_thing:
                self._quietly(self.client.delete_thing, thingName=thing_name)
        except (ClientError, BotoCoreError) as exc:
            raise UpstreamError(f"IoT registry: could not revoke {thing_name}: {describe(exc)}") from exc

    def _undo(self, thing_name: str | None, cert: dict[str, Any] | None, policy_name: str) -> None:
        try:
            if cert is not None:
                arn = cert["certificateArn"]
                if thing_name is not None:
                    self._quietly(self.client.detach_thing_principal, thingName=thing_name, principal=arn)
                self._quietly(self.client.detach_policy, policyName=policy_name, target=arn)
                self._quietly(self.client.update_certificate, certificateId=cert["certificateId"],
                              newStatus="INACTIVE")
                self._quietly(self.client.delete_certificate, certificateId=cert["certificateId"], forceDelete=True)
            if thing_name is not None:
                self._quietly(self.client.delete_thing, thingName=thing_name)
        except (ClientError, BotoCoreError):
            log.exception("IoT registry: cleanup after a failed enrolment of %s failed", thing_name)

    @staticmethod
    def _quietly(call: Any, **kwargs: Any) -> None:
        """Run ``call``; a resource that is already gone is not an error."""
        try:
            call(**kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("ResourceNotFoundException",):
                raise

