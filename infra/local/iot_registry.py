"""The twin's IoT registry: moto's, with the two things IoT Core does and moto does not.

* **Certificates from a CSR** are signed by the twin's stand-in for Amazon's CA (:class:`infra.local.iot_ca.IotCa`)
  from the CSR's own subject and public key, so the stand-in broker can verify them (moto 5 issues a certificate
  for a fresh key of its own, signed by nobody the broker knows). :func:`install_csr_signing` replaces moto's
  ``CreateCertificateFromCsr`` in this process (moto's server runs in the local cloud's process); the rest of
  moto's certificate store (ids, ARNs, states, policies, things) is moto's own. A malformed CSR is AWS's
  ``InvalidRequestException``.
* **Access on the broker**: a certificate attached to a thing may do what the site policy allows that thing.
  :class:`StandInIssuer` wraps the production :class:`~chalicelib.adapters.registry.IotRegistry` (the app's
  ``IdentityIssuer``, injected like the twin's publisher and shadow store): after it has made the thing and the
  certificate, the thing's access is put on the stand-in broker (:class:`infra.local.iot_access.StandInAccess`);
  revoking a site (its thing deleted) removes it. The broker knows identities by thing name (the certificate's
  CN): a certificate replaced at re-enrolment (the thing kept) is not told apart from the new one
  (docs/architecture.md, where the twin differs from AWS).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from infra.local.iot_ca import IotCa, IotCaError

if TYPE_CHECKING:
    from chalicelib.adapters.registry import IdentityIssuer, SiteIdentity
    from infra.local.iot_access import StandInAccess

log = logging.getLogger(__name__)


def install_csr_signing(ca: IotCa) -> None:
    """Make every moto IoT backend of this process sign CSRs with ``ca``, as AWS IoT signs them with its CA."""
    from moto.iot.exceptions import InvalidRequestException
    from moto.iot.models import IoTBackend

    def create_certificate_from_csr(self: IoTBackend, csr: str, set_as_active: bool) -> Any:
        try:
            pem = ca.sign_csr(csr)
        except IotCaError as exc:
            raise InvalidRequestException(str(exc)) from None
        return self.register_certificate(pem, ca_certificate_pem=None, set_as_active=set_as_active,
                                         status="INACTIVE")

    IoTBackend.create_certificate_from_csr = create_certificate_from_csr  # type: ignore[method-assign]


class StandInIssuer:
    """The production issuer, then the thing's access on the stand-in broker (module docstring)."""

    def __init__(self, inner: IdentityIssuer, access: StandInAccess) -> None:
        self._inner = inner
        self._access = access

    def issue(self, thing_name: str, policy_name: str, site_id: str, csr: str,
              thing_type: str | None = None) -> SiteIdentity:
        identity = self._inner.issue(thing_name, policy_name, site_id, csr, thing_type)
        try:
            # the attribute the production issuer has just set on the thing (the site policy's variable)
            self._access.grant_site(thing_name, {"site_id": site_id})
        except Exception as exc:
            from chalicelib.errors import UpstreamError

            log.exception("IoT Core stand-in: could not give %s its access; undoing the identity", thing_name)
            self._inner.revoke(thing_name, identity.certificate_id, identity.certificate_arn, policy_name,
                               delete_thing=False)
            raise UpstreamError(f"IoT Core stand-in: could not give {thing_name} its access: {exc}") from exc
        return identity

    def revoke(self, thing_name: str, certificate_id: str | None, certificate_arn: str | None,
               policy_name: str, *, delete_thing: bool = True) -> None:
        self._inner.revoke(thing_name, certificate_id, certificate_arn, policy_name, delete_thing=delete_thing)
        if delete_thing:  # the site is gone; with the thing kept, its newer certificate keeps the access
            self._access.revoke_site(thing_name)
