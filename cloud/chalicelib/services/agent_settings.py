"""Each agent's desired settings, kept in the named shadow of its site's IoT thing named after the agent.

The district admin (an operator of the agent's site, or an admin) writes ``desired``; IoT Core tells the site's
LMS the delta, the LMS applies it to the agent and writes ``reported``. :meth:`AgentSettingsService.read` shows
both and what is still ``pending`` (the desired keys whose value the agent does not hold yet). A shadow that does
not exist yet reads as empty; ``None`` as a desired value removes that key (AWS semantics).

Shadow operations cost money (docs/data-model.md, "Agent settings: device shadows"): a read is one
``GetThingShadow``; a write is one ``GetThingShadow`` (to check the merged document stays under AWS's 8 KB state
limit, and to answer with the merged view) and one ``UpdateThingShadow`` (conditional on the version read), plus one
more read only when another writer changed the shadow in between (then AWS refuses the write with 409 and it is
done again).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from chalicelib.adapters.shadows import ShadowConflict, ShadowStore, read_document
from chalicelib.domain.agent import Agent
from chalicelib.domain.token import Principal
from chalicelib.errors import BadRequest, Conflict
from chalicelib.services.agents import AgentService
from shared.messages.shadow import (
    MAX_SHADOW_SETTINGS,
    MAX_SHADOW_STATE_BYTES,
    SettingsShadow,
    desired_update,
    settings_values,
)
from shared.names import Namespace
from shared.topics import agent_shadow_name, site_thing_name

log = logging.getLogger(__name__)

#: reads-checks-writes of one desired update before giving up with 409 (each retry follows another writer)
WRITE_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class SettingsView:
    agent_id: str
    site_id: str
    desired: dict[str, str]
    reported: dict[str, str]
    #: desired keys whose value differs from ``reported`` (what the LMS has still to apply)
    pending: dict[str, str]
    #: the shadow's version; 0 when it does not exist yet
    version: int

    def to_dict(self) -> dict[str, Any]:
        return {"agent_id": self.agent_id, "site_id": self.site_id, "desired": self.desired,
                "reported": self.reported, "pending": self.pending, "version": self.version}


class AgentSettingsService:
    def __init__(self, agents: AgentService, shadows: ShadowStore, namespace: Namespace) -> None:
        self._agents = agents
        self._shadows = shadows
        self._namespace = namespace

    def read(self, principal: Principal, agent_id: str) -> SettingsView:
        agent = self._agents.get(agent_id, principal)
        thing, shadow = self._address(agent)
        return self._view(agent, self._document(thing, shadow))

    def set_desired(self, principal: Principal, agent_id: str, settings: dict[str, Any]) -> SettingsView:
        """Merge ``settings`` into the agent's desired settings (``None`` removes a key); returns the new view.
        Bad keys or values, or a document that would exceed AWS's limit, are a 400 and change nothing.

        The write is conditional on the version that was read (optimistic concurrency): when another writer
        (an admin, the LMS reporting) changed the shadow in between, AWS refuses it (409) and the read, the
        checks and the write are done again, up to :data:`WRITE_ATTEMPTS` times; then 409."""
        agent = self._agents.get(agent_id, principal)
        principal.require_sites({agent.site_id})
        try:
            values = settings_values(settings, allow_null=True)
            if not values:
                raise ValueError("give at least one setting")
        except ValueError as exc:
            raise BadRequest(f"settings: {exc}") from None
        thing, shadow = self._address(agent)
        for _ in range(WRITE_ATTEMPTS):
            before = self._document(thing, shadow)
            merged, reported = self._checked_merge(before, values)
            try:
                response = self._shadows.update(thing, shadow, desired_update(values, version=before.version))
            except ShadowConflict:
                log.info("agent %s settings: the shadow changed while writing; reading it again", agent_id)
                continue
            log.info("agent %s settings: desired %s by %s", agent_id, ", ".join(sorted(values)), principal.name)
            version = response.get("version")
            if isinstance(version, int) and version == (before.version or 0) + 1:
                # nobody else wrote in between: the merged document is what we computed
                return self._view(agent, SettingsShadow.model_validate(
                    {"state": {"desired": merged, "reported": reported}, "version": version}))
            return self._view(agent, self._document(thing, shadow))
        raise Conflict(f"agent {agent_id}: its settings changed {WRITE_ATTEMPTS} times while writing; retry")

    @staticmethod
    def _checked_merge(before: SettingsShadow, values: dict[str, str | None]) -> tuple[dict[str, str], dict[str, str]]:
        """The desired settings after the write and the reported ones; 400 if AWS's limits would be passed."""
        desired = {**(before.state.desired or {}), **values}
        merged = {k: v for k, v in desired.items() if v is not None}
        if len(merged) > MAX_SHADOW_SETTINGS:
            raise BadRequest(f"settings: an agent holds at most {MAX_SHADOW_SETTINGS} desired settings")
        reported = before.state.reported or {}
        state_bytes = len(json.dumps({"desired": merged, "reported": reported}, separators=(",", ":"),
                                     ensure_ascii=False).encode())
        if state_bytes > MAX_SHADOW_STATE_BYTES:
            raise BadRequest(f"settings: the agent's shadow would hold {state_bytes} bytes of state, over AWS's "
                             f"{MAX_SHADOW_STATE_BYTES}-byte limit; remove settings first")
        return merged, reported

    # ------------------------------------------------------------ helpers

    def _address(self, agent: Agent) -> tuple[str, str]:
        return site_thing_name(self._namespace, agent.site_id), agent_shadow_name(agent.agent_id)

    def _document(self, thing: str, shadow: str) -> SettingsShadow:
        return read_document(self._shadows, thing, shadow, SettingsShadow, "settings ")

    @staticmethod
    def _view(agent: Agent, document: SettingsShadow) -> SettingsView:
        desired = dict(document.state.desired or {})
        reported = dict(document.state.reported or {})
        pending = {k: v for k, v in desired.items() if reported.get(k) != v}
        return SettingsView(agent.agent_id, agent.site_id, desired, reported, pending, document.version or 0)
