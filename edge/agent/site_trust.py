"""Rotation at the agent: its broker password and the site CA it trusts, changed by its LMS over the agent's
own authenticated broker connection (docs/security.md#rotation-of-certificates-and-credentials-issue-19).

Both commands are ``lms_only`` (``shared.commands``): the LMS's router sends them with source ``lms`` and
refuses them from every API and from the cloud; on the broker only the LMS may publish to an agent's ``down``
topic (docs/architecture.md#enrolment-and-broker-credentials). The agent accepts them only when enrolled
(``[enroll]``), i.e. when it is connected to the broker whose certificate its pinned site CA verified.

* ``rotate_broker_password {password}``: the new password is stored (``credentials.json``, the previous one
  kept beside it) and used from the next connection on; the LMS sets it on the broker only after this answer,
  which makes the broker end this session (a dynamic-security password change kicks the client, without its
  will) and the agent connect again with the new one. If the broker refuses the new password (the LMS could
  not set it), :meth:`SiteTrust.fall_back` goes back to the previous one, once.
* ``trust_site_ca {ca_pems}``: the site CA certificates to trust from now on (1-3). The set must contain a CA
  the agent already trusts — a CA rotation is a chain of overlapping steps, never a jump — and each must be a
  CA certificate. They replace ``site-ca.pem``, the fingerprints go to ``site-ca-pins.json`` (which then
  stands in for ``[enroll] ca_hash``, see :func:`edge.agent.credentials.trusted_hashes`), and the broker
  connection trusts them from its next handshake.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.agent.commands import CommandFailed, Handler
from edge.agent.credentials import (
    CA_FILE,
    CREDENTIALS_FILE,
    bundle_hashes,
    load_credentials,
    save_credentials,
    save_pins,
    trusted_hashes,
)
from shared import fingerprint
from shared.errors import ErrorCode, MqttError
from shared.files import write_atomic
from shared.messages.structs import Command
from shared.mqtt import MqttClient

if TYPE_CHECKING:
    from pydantic import BaseModel

log = logging.getLogger(__name__)


class SiteTrust:
    """The two rotation commands of an enrolled agent (see the module docstring)."""

    def __init__(self, agent_id: str, state_dir: Path, ca_hash: str, client: MqttClient) -> None:
        self.agent_id = agent_id
        self.state_dir = state_dir
        self.ca_hash = ca_hash  # [enroll] ca_hash as configured
        self.client = client

    @property
    def credentials_path(self) -> Path:
        return self.state_dir / CREDENTIALS_FILE

    def table(self) -> dict[str, Handler]:
        return {"rotate_broker_password": self.rotate_broker_password, "trust_site_ca": self.trust_site_ca}

    # ------------------------------------------------------------ broker password

    def rotate_broker_password(self, _cmd: Command, params: BaseModel) -> dict[str, Any]:
        from shared.commands import RotateBrokerPasswordParams

        assert isinstance(params, RotateBrokerPasswordParams)
        creds = load_credentials(self.credentials_path, self.agent_id)
        if creds is None:
            raise CommandFailed("this agent holds no enrolment credentials to rotate", code=ErrorCode.NOT_SUPPORTED)
        if params.password == creds.password:
            return {"stored": True, "unchanged": True}
        save_credentials(self.credentials_path,
                         dataclasses.replace(creds, password=params.password, previous_password=creds.password))
        self.client.set_credentials(creds.username, params.password)
        log.warning("rotation: new broker password stored; used from the next connection")
        return {"stored": True}

    def fall_back(self) -> bool:
        """After a refusal: back to the password before the last rotation, once. False if there is none."""
        creds = load_credentials(self.credentials_path, self.agent_id)
        if creds is None or not creds.previous_password:
            return False
        save_credentials(self.credentials_path,
                         dataclasses.replace(creds, password=creds.previous_password, previous_password=None))
        self.client.set_credentials(creds.username, creds.previous_password)
        log.warning("rotation: the broker refuses the new password (the LMS did not set it): back to the previous")
        return True

    # ------------------------------------------------------------ site CA

    def trust_site_ca(self, _cmd: Command, params: BaseModel) -> dict[str, Any]:
        from shared.commands import TrustSiteCaParams

        assert isinstance(params, TrustSiteCaParams)
        from cryptography import x509  # only when a rotation arrives: ~8 MB resident (edge.agent.footprint)

        ders = []
        for pem in params.ca_pems:
            try:
                der = fingerprint.first_certificate(pem)
                cert = x509.load_der_x509_certificate(der)
                is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
            except (ValueError, x509.ExtensionNotFound) as exc:
                raise CommandFailed(f"not a CA certificate: {exc}", code=ErrorCode.INVALID_PARAMS) from None
            if not is_ca:
                raise CommandFailed("not a CA certificate (basicConstraints CA:FALSE)", code=ErrorCode.INVALID_PARAMS)
            ders.append(der)
        hashes = list(dict.fromkeys(fingerprint.of_der(der) for der in ders))
        current = trusted_hashes(self.state_dir, self.ca_hash) | set(bundle_hashes(self.state_dir / CA_FILE))
        if not current & set(hashes):
            raise CommandFailed(
                "refused: none of these CAs is one this agent already trusts (a site CA rotation keeps the current "
                "CA in the set until the switch; a new site means enrolling again)",
                code=ErrorCode.REJECTED_BY_POLICY,
            )
        write_atomic(self.state_dir / CA_FILE, "".join(fingerprint.to_pem(der) for der in ders), mode=0o644)
        save_pins(self.state_dir, self.ca_hash, hashes)
        try:
            self.client.trust_ca(self.state_dir / CA_FILE)
        except MqttError as exc:
            log.warning("rotation: %s (the new CAs are used after a restart)", exc.message)
        log.warning("rotation: the site CAs trusted from now on: %s", ", ".join(hashes))
        return {"trusted": hashes}
