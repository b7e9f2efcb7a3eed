"""Rotating the site CA without re-enrolling agents: begin (overlap), switch, retire.

Agents trust only the site CA they pinned. A new CA reaches them only over their existing authenticated
channel: the ``trust_site_ca`` command on their own ``down`` topic of the site broker (whose certificate their
pinned CA verified, and where only the LMS may publish), sent by the LMS itself (``lms_only``: refused from
every API and from the cloud). An agent accepts a set of CAs only if it contains one it already trusts
(``edge.agent.site_trust``). The steps (docs/operations.md#site-operations-rotate-certificates-and-credentials):

1. :meth:`CaRotation.begin` makes the next CA in ``<site_tls.dir>/next/`` (its key 0600, never leaving the
   LMS), trusts it on the LMS's own broker connections, and sends every agent that holds credentials
   ``trust_site_ca [current, next]``. Agents that did not answer (offline) are listed; ``begin`` again sends to
   them (it is idempotent: the same next CA).
2. :meth:`CaRotation.switch` — refused while an agent has not acknowledged the next CA, unless forced — moves
   the current CA to ``<dir>/previous/`` and the next one in its place; the LMS's and broker's certificates are
   re-issued by the new CA at once (handed over as in a certificate rotation: the LMS serves it from the next
   handshake, the broker after its reload). ``GET /api/enroll/ca`` and new enrolment tokens show the new
   fingerprint. Open connections keep their session; new ones verify against the two CAs agents now trust.
3. :meth:`CaRotation.retire` sends every agent ``trust_site_ca [new]`` and deletes the previous CA (its key
   first). Agents enrolled with the old ``ca_hash`` in their configuration keep working: their
   ``site-ca-pins.json`` records the chain.

The state between the steps is ``<dir>/ca-rotation.json`` (the next CA's fingerprint, the agents that
acknowledged it), so an LMS restarted in the middle resumes where it was.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.x509.oid import NameOID

from edge.lms.commands import Router
from edge.lms.commands.router import LMS_SOURCE
from edge.lms.tls.site_ca import CA_CERT, CA_KEY, SiteCa, SiteCaError, write_file
from edge.lms.tls.site_tls import SiteTls, TlsFiles

log = logging.getLogger(__name__)

NEXT_DIR, PREVIOUS_DIR = "next", "previous"
STATE_FILE = "ca-rotation.json"
TRUST_COMMAND = "trust_site_ca"


class CaRotationError(SiteCaError):
    """A step refused (out of order, agents not ready) or failed; the message says which and why."""


@dataclass
class CaRotationState:
    phase: str = "idle"  # idle, overlap (begun), switched
    next_fingerprint: str | None = None
    previous_fingerprint: str | None = None
    acknowledged: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # agents that have not acknowledged the current step

    def as_dict(self) -> dict[str, Any]:
        return {"phase": self.phase, "next_fingerprint": self.next_fingerprint,
                "previous_fingerprint": self.previous_fingerprint, "acknowledged": sorted(self.acknowledged),
                "pending": sorted(self.pending)}  # fmt: skip


class CaRotation:
    """The three steps of a site CA rotation (see the module docstring)."""

    def __init__(
        self,
        site_tls: SiteTls,
        router: Router,
        agents: Callable[[], list[str]],
        *,
        on_switched: Callable[[TlsFiles], None],
        trust: Callable[[Path], None],
        timeout_s: float = 15.0,
    ) -> None:
        self._tls = site_tls
        self._router = router
        self._agents = agents  # the agents that hold broker credentials
        self._on_switched = on_switched
        self._trust = trust  # the LMS's own broker connections also trust this CA file from now on
        self._timeout_s = timeout_s
        self.dir = site_tls.dir

    # ------------------------------------------------------------ state

    def state(self) -> CaRotationState:
        try:
            data = json.loads((self.dir / STATE_FILE).read_text(encoding="utf-8"))
            return CaRotationState(**data)
        except FileNotFoundError:
            return CaRotationState()
        except (OSError, ValueError, TypeError) as exc:
            raise CaRotationError(f"unreadable {self.dir / STATE_FILE}: {exc}") from None

    def _save(self, state: CaRotationState) -> None:
        write_file(self.dir / STATE_FILE, json.dumps(state.as_dict()).encode(), 0o600)

    def _ca(self, directory: Path, name: str) -> SiteCa:
        return SiteCa.open(directory, name=name)

    def _send(self, pems: list[str], state: CaRotationState) -> None:
        """``trust_site_ca`` to every agent that holds credentials; who acknowledged goes into ``state``."""
        acknowledged: list[str] = []
        pending: list[str] = []
        for agent_id in self._agents():
            response = self._router.send(agent_id, TRUST_COMMAND, {"ca_pems": pems}, self._timeout_s,
                                         source=LMS_SOURCE)  # fmt: skip
            (acknowledged if response.success else pending).append(agent_id)
            if not response.success:
                log.warning("site CA rotation: %s did not take the CA set: %s", agent_id, response.error)
        state.acknowledged, state.pending = acknowledged, pending

    def extra_trust_files(self) -> list[Path]:
        """The next or previous CA while a rotation is under way (an LMS restarted mid-rotation trusts them)."""
        return [p for p in (self.dir / NEXT_DIR / CA_CERT, self.dir / PREVIOUS_DIR / CA_CERT) if p.is_file()]

    # ------------------------------------------------------------ the steps

    def begin(self) -> CaRotationState:
        state = self.state()
        if state.phase == "switched":
            raise CaRotationError("the site CA was switched already: retire the previous one first")
        current = self._ca(self.dir, "")
        names = current.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        nxt = self._ca(self.dir / NEXT_DIR, f"{names[0].value if names else 'ClassTop site CA'!s} (next)")
        state.phase, state.next_fingerprint = "overlap", nxt.fingerprint
        self._trust(nxt.cert_file)
        self._send([current.cert_pem, nxt.cert_pem], state)
        self._save(state)
        log.warning("site CA rotation begun: next CA %s; %d agents trust it, %d not yet (%s)", nxt.fingerprint,
                    len(state.acknowledged), len(state.pending), ", ".join(state.pending) or "-")  # fmt: skip
        return state

    def switch(self, *, force: bool = False) -> CaRotationState:
        state = self.state()
        if state.phase != "overlap" or not (self.dir / NEXT_DIR / CA_CERT).is_file():
            raise CaRotationError("no site CA rotation to switch: begin one first")
        if state.pending and not force:
            raise CaRotationError(
                f"agents that do not trust the next CA yet: {', '.join(sorted(state.pending))} — bring them online "
                "and begin again (it resends), or retire them; force switches anyway (those agents must then enrol "
                "again with the new fingerprint)"
            )
        current = self._ca(self.dir, "")
        previous = self.dir / PREVIOUS_DIR
        shutil.rmtree(previous, ignore_errors=True)
        previous.mkdir(mode=0o700)
        for name in (CA_KEY, CA_CERT):  # the current CA aside, then the next one in its place
            (self.dir / name).replace(previous / name)
        for name in (CA_KEY, CA_CERT):
            (self.dir / NEXT_DIR / name).replace(self.dir / name)
        with contextlib.suppress(OSError):
            (self.dir / NEXT_DIR).rmdir()
        files = self._tls.ensure()  # re-issued: "not signed by this site CA"
        self._on_switched(files)
        state.phase, state.previous_fingerprint = "switched", current.fingerprint
        self._save(state)
        log.warning("site CA switched to %s (previous %s kept until retired)", files.fingerprint, current.fingerprint)
        return state

    def retire(self) -> CaRotationState:
        state = self.state()
        if state.phase != "switched":
            raise CaRotationError("nothing to retire: switch to the next site CA first")
        current = self._ca(self.dir, "")
        self._send([current.cert_pem], state)
        previous = self.dir / PREVIOUS_DIR
        with contextlib.suppress(OSError):
            (previous / CA_KEY).unlink()  # the key first: a retired CA can sign nothing again
        shutil.rmtree(previous, ignore_errors=True)
        (self.dir / STATE_FILE).unlink(missing_ok=True)
        log.warning("site CA %s retired; agents trust only %s (%d did not answer: %s)", state.previous_fingerprint,
                    current.fingerprint, len(state.pending), ", ".join(state.pending) or "-")  # fmt: skip
        state.phase = "idle"
        return state
