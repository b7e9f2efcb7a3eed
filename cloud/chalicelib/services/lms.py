"""Sites' LMS identities: enrolment tokens, registration (seed ``POST /api/lms/register``), the seed HTTP
heartbeat, approval and deletion (which revokes the identity).

* With a one-time enrolment token (``Authorization: Bearer cte_…``) and a CSR an LMS gets the full identity: an IoT
  thing and an active certificate signed from its CSR with the site policy attached (the LMS made the key pair and
  keeps the private key; the cloud never holds one) and an API key. The token is consumed; a failure undoes every
  part and gives the token back. An enrolment token without a CSR is a 400.
* Without a credential (an LMS of the seed design) the tenant's ``lms_policy`` admits a *new* site: ``open``
  (approved), ``approval`` (pending until an admin approves) or ``closed`` (refused). It gets an API key only.
* A site that exists already (registered, enrolled, or known from its heartbeats) is registered again only with
  its current API key (``Authorization: Bearer ctl_…``: the key is rotated, approval and certificate are kept) or
  with an enrolment token an admin bound to that site id (re-enrolment: a new certificate, the old one revoked).
  Anything else is a 409 and changes nothing, so nobody can lock a site's owner out.
* The seed heartbeat of a site that is not approved is refused (see ``AgentService.ingest_heartbeat``).

API keys and enrolment tokens are stored as SHA-256 hashes in the token table.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.adapters.registry import IdentityIssuer, SiteIdentity
from chalicelib.config import Settings
from chalicelib.domain.approval import Approval
from chalicelib.domain.site import Site
from chalicelib.domain.token import Principal, SecretKind, StoredSecret
from chalicelib.errors import BadRequest, Conflict, Forbidden, Unauthorized
from chalicelib.repositories.site import SiteRepository
from chalicelib.repositories.token import TokenRepository
from chalicelib.services.agents import AgentService
from chalicelib.services.csr import check_csr
from chalicelib.services.heartbeat_marks import HeartbeatReport
from chalicelib.services.optimistic_writes import retry_stale
from chalicelib.services.sites import visible_site
from chalicelib.services.tokens import hash_secret
from shared.messages.enums import AgentKind, Presence
from shared.messages.structs import AgentPresence, SiteHeartbeat, build
from shared.topics import site_thing_name

log = logging.getLogger(__name__)

ENROLMENT_PREFIX = "cte_"
API_KEY_PREFIX = "ctl_"
_MAX_SECRET_CHARS = 256
_CSR_WITHOUT_TOKEN = "csr: a certificate is issued only with an enrolment token (Authorization: Bearer cte_…)"
#: statuses of the seed heartbeat's agents (its ``clients``) that mean "connected"
_ONLINE = frozenset({"online", "connected", "active"})


@dataclass(frozen=True, slots=True)
class Registration:
    site: Site
    api_key: str
    identity: SiteIdentity | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"lms_id": self.site.site_id, "api_key": self.api_key, "site_id": self.site.site_id,
                               "approval": self.site.approval.value}
        if self.identity is not None:
            out.update(thing_name=self.identity.thing_name, certificate_id=self.identity.certificate_id,
                       certificate_arn=self.identity.certificate_arn, certificate_pem=self.identity.certificate_pem)
        return out


@dataclass(frozen=True, slots=True)
class LmsRegistration:
    """What an LMS sends to register (the seed's shape)."""

    lms_uuid: str
    name: str
    host: str
    port: int
    version: str
    #: PEM PKCS#10 request for the site certificate (required with an enrolment token, refused without)
    csr: str | None = None


@dataclass(frozen=True, slots=True)
class LmsAgent:
    """An agent as a seed LMS reports it in its HTTP heartbeat (one of the body's ``clients``)."""

    agent_id: str
    name: str
    status: str


def bearer_secret(authorization: str | None) -> str:
    """The secret of ``Authorization: Bearer <secret>`` (401 otherwise)."""
    scheme, _, secret = (authorization or "").strip().partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret or len(secret) > _MAX_SECRET_CHARS:
        raise Unauthorized("Authorization must be 'Bearer <key>'")
    return secret


class LmsService:
    def __init__(
        self,
        sites: SiteRepository,
        secrets_repo: TokenRepository,
        issuer: IdentityIssuer,
        agents: AgentService,
        settings: Settings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sites = sites
        self._secrets = secrets_repo
        self._issuer = issuer
        self._agents = agents
        self._settings = settings
        self._clock = clock

    # ------------------------------------------------------------ enrolment tokens

    def create_enrolment(self, name: str, *, site_id: str | None = None, ttl_s: int | None = None,
                         created_by: str | None = None) -> tuple[str, StoredSecret]:
        """A one-time enrolment token (returned once). ``site_id`` binds it to that site id."""
        now = self._clock()
        secret = ENROLMENT_PREFIX + secrets.token_urlsafe(32)
        stored = StoredSecret(hash_secret(secret), SecretKind.ENROLMENT, name, site_id, now,
                              now + (ttl_s or self._settings.enrolment_ttl_s), created_by)
        self._secrets.create_secret(stored)
        return secret, stored

    # ------------------------------------------------------------ registration

    def register(self, request: LmsRegistration, credential: str | None) -> Registration:
        """Register an LMS. ``credential`` is the bearer secret of the call, if any: the site's current API key
        (re-registration) or a one-time enrolment token; none for a new seed site."""
        if credential is not None and credential.startswith(API_KEY_PREFIX):
            return self._reregister(request, credential)
        now = self._clock()
        enrolment: StoredSecret | None = None
        if credential is not None:
            enrolment = self._secrets.get_secret(hash_secret(credential), SecretKind.ENROLMENT)
            if enrolment is None or (enrolment.expires_at is not None and enrolment.expires_at <= now):
                raise Unauthorized("unknown, used or expired enrolment token")
        site_id = enrolment.site_id if enrolment is not None and enrolment.site_id else request.lms_uuid
        existing = self._sites.get(site_id)

        if enrolment is None:
            if request.csr is not None:  # the caller lacks the credential for it: 403, like any act beyond one's rights
                raise Forbidden(_CSR_WITHOUT_TOKEN)
            self._refuse_existing(existing)
            policy = self._settings.lms_policy
            if policy == "closed":
                raise Forbidden("this tenant admits no LMS without an enrolment token")
            approval = Approval.APPROVED if policy == "open" else Approval.PENDING
            return self._store(existing, site_id, request, approval, now)

        if existing is not None and enrolment.site_id != site_id:
            self._refuse_existing(existing)
        if request.csr is None:
            raise BadRequest("csr: an enrolment token issues a certificate: send the CSR of a key pair the LMS made "
                             "(PEM 'CERTIFICATE REQUEST'; EC P-256/P-384 or RSA 2048-4096); the cloud never makes "
                             "private keys")
        csr = check_csr(request.csr)
        if not self._secrets.consume(enrolment.token_hash):
            raise Unauthorized("unknown, used or expired enrolment token")
        return self._store(existing, site_id, request, Approval.APPROVED, now, enrolment, csr)

    def _reregister(self, request: LmsRegistration, api_key: str) -> Registration:
        """Registration with the site's current API key: the key is rotated; approval and identity are kept."""
        if request.csr is not None:
            raise Forbidden(_CSR_WITHOUT_TOKEN)
        try:
            site = self.authenticate(f"Bearer {api_key}")
        except Unauthorized:
            site = None
        if site is None or site.lms_uuid != request.lms_uuid:
            raise Unauthorized(f"not the current API key of LMS {request.lms_uuid}")
        return self._store(site, site.site_id, request, site.approval, self._clock())

    @staticmethod
    def _refuse_existing(existing: Site | None) -> None:
        if existing is not None:
            raise Conflict(f"site {existing.site_id} exists: register it again with its current API key "
                           "(Authorization: Bearer ctl_…) or an enrolment token bound to it (an admin makes one with "
                           "POST /api/enrolments {\"site_id\": …})")

    def _store(self, existing: Site | None, site_id: str, request: LmsRegistration, approval: Approval, now: float,
               enrolment: StoredSecret | None = None, csr: str = "") -> Registration:
        """Issue the identity (with ``enrolment``, the consumed token, from ``csr``, checked) and a new API key,
        save the site, then retire the previous key and certificate. A failure undoes every part it made."""
        identity: SiteIdentity | None = None
        api_key = API_KEY_PREFIX + secrets.token_urlsafe(32)
        key_hash = hash_secret(api_key)
        key_stored = False
        try:
            if enrolment is not None:
                identity = self._issuer.issue(site_thing_name(self._settings.namespace, site_id),
                                              self._settings.iot_site_policy, site_id, csr,
                                              self._settings.iot_site_thing_type)
            self._secrets.create_secret(StoredSecret(key_hash, SecretKind.LMS, request.name, site_id, now))
            key_stored = True
            site = self._sites.save(self._registered(existing, site_id, request, approval, key_hash, identity, now))
        except BaseException:
            self._undo(enrolment, identity, key_hash if key_stored else None)
            raise

        if existing is not None:  # the previous key and certificate stop working now
            if existing.api_key_hash:
                self._secrets.delete(existing.api_key_hash)
            if identity is not None and existing.certificate_id:
                self._issuer.revoke(identity.thing_name, existing.certificate_id, existing.certificate_arn,
                                    self._settings.iot_site_policy, delete_thing=False)
        return Registration(site, api_key, identity)

    @staticmethod
    def _registered(existing: Site | None, site_id: str, request: LmsRegistration, approval: Approval,
                    key_hash: str, identity: SiteIdentity | None, now: float) -> Site:
        fields: dict[str, Any] = dict(
            name=request.name, host=request.host, port=request.port, lms_uuid=request.lms_uuid,
            lms_version=request.version, approval=approval, registered_at=now, api_key_hash=key_hash,
            retired_at=None,  # a retired site registers again only with an enrolment token bound to it
        )
        if identity is not None:
            fields.update(thing_name=identity.thing_name, certificate_id=identity.certificate_id,
                          certificate_arn=identity.certificate_arn)
        if existing is None:
            return Site(site_id=site_id, last_heartbeat=0.0, **fields)
        return dataclasses.replace(existing, **fields)

    def _undo(self, enrolment: StoredSecret | None, identity: SiteIdentity | None, key_hash: str | None) -> None:
        try:
            if key_hash is not None:
                self._secrets.delete(key_hash)
            if identity is not None:
                self._issuer.revoke(identity.thing_name, identity.certificate_id, identity.certificate_arn,
                                    self._settings.iot_site_policy, delete_thing=False)
            if enrolment is not None:
                self._secrets.create_secret(enrolment)  # the enrolment did not happen: the token stays usable
        except Exception:
            log.exception("undoing a failed LMS registration failed")

    # ------------------------------------------------------------ the seed heartbeat

    def heartbeat(self, site: Site, lms_uuid: str, agents: list[LmsAgent]) -> HeartbeatReport:
        """Apply a seed heartbeat of ``site`` (as returned by :meth:`authenticate`)."""
        if site.lms_uuid != lms_uuid:
            raise Forbidden(f"this API key belongs to another LMS than {lms_uuid}")
        presences = {
            a.agent_id: build(AgentPresence, agent_id=a.agent_id, status=Presence.ONLINE if a.status.lower() in _ONLINE
                              else Presence.OFFLINE, kind=AgentKind.LEGACY, hostname=a.name[:255] or None)
            for a in agents
        }
        heartbeat = build(SiteHeartbeat, timestamp=self._clock(), lms_version=site.lms_version, full=True,
                          agents=list(presences.values()))
        return self._agents.ingest_heartbeat(site.site_id, heartbeat)

    def authenticate(self, authorization: str | None) -> Site:
        """The site whose API key is in ``authorization`` (401 otherwise, also after the site was deleted)."""
        secret = self._secrets.get_secret(hash_secret(bearer_secret(authorization)), SecretKind.LMS)
        site = self._sites.get(secret.site_id) if secret is not None and secret.site_id else None
        if site is None or secret is None or site.api_key_hash != secret.token_hash:
            raise Unauthorized("unknown or revoked API key")
        return site

    # ------------------------------------------------------------ administration

    def approve(self, site_id: str, principal: Principal) -> Site:
        """Approve a pending site (one the caller may see)."""

        def attempt() -> Site:
            site = visible_site(self._sites, site_id, principal)
            if site.approval is Approval.APPROVED:
                return site
            return self._sites.save(dataclasses.replace(site, approval=Approval.APPROVED))

        return retry_stale(attempt, Conflict(f"site {site_id}: too many concurrent updates; retry"))

    def delete(self, site_id: str, principal: Principal) -> Site:
        """Delete a site (one the caller may see) and revoke its identity (certificate, thing, API key)."""
        site = visible_site(self._sites, site_id, principal)
        if site.thing_name is not None:
            self._issuer.revoke(site.thing_name, site.certificate_id, site.certificate_arn,
                                self._settings.iot_site_policy)
        if site.api_key_hash is not None:
            self._secrets.delete(site.api_key_hash)
        self._sites.delete(site)
        return site
