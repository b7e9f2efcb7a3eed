"""A site's LMS configuration from the cloud, kept in the ``lms:config`` named shadow of the site's IoT thing
(``shared.messages.lms_config``; docs/protocol.md#the-lmss-configuration-from-the-cloud).

The district admin writes ``desired`` (cloud-settable keys only, JSON types checked here; the bounds are the
LMS's, which rejects an out-of-bounds document as a whole and says why in ``reported.config_status``; one is the
cloud's own: for a site whose LMS has not stated its full heartbeat period (an older LMS, judged by ``site_stale_s``
whatever its period), a ``site_heartbeat_s`` over a third of ``site_stale_s``, which would show a healthy site down
between its heartbeats, is refused here; an LMS that states it is judged by it, up to ``FULL_PERIOD_MAX_S``). The
site's
LMS applies it live and writes ``reported``. :meth:`LmsConfigService.read` shows both, what is still ``pending``
and the LMS's status. Writes are versioned: a caller may name the ``version`` it read (409 when the shadow has
moved on), and the write itself is conditional on the version read (a concurrent writer makes AWS answer 409;
read, check and write are then done again, up to :data:`WRITE_ATTEMPTS` times).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from chalicelib.adapters.shadows import ShadowConflict, ShadowStore, read_document
from chalicelib.domain.site import STALE_PERIODS, Site
from chalicelib.domain.token import Principal
from chalicelib.errors import BadRequest, Conflict
from chalicelib.repositories.site import SiteRepository
from chalicelib.services.sites import visible_site
from shared.messages import describe_validation_error
from shared.messages.checks import FULL_PERIOD_MAX_S
from shared.messages.lms_config import STATUS_KEY, LmsConfigOverlay, LmsConfigShadow, lms_config_update
from shared.messages.shadow import MAX_SHADOW_STATE_BYTES
from shared.names import Namespace
from shared.topics import lms_config_shadow_name, site_thing_name

log = logging.getLogger(__name__)

WRITE_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class LmsConfigView:
    site_id: str
    desired: dict[str, Any]
    #: the cloud-settable settings in effect at the LMS (``config_status`` apart)
    reported: dict[str, Any]
    #: desired settings the LMS does not hold (yet, or because it rejected them: see ``status``)
    pending: dict[str, Any]
    #: ``{state: applied|rejected|local, version, config_version, reason, at}`` as the LMS reported it
    status: dict[str, Any] | None
    version: int

    def to_dict(self) -> dict[str, Any]:
        return {"site_id": self.site_id, "desired": self.desired, "reported": self.reported,
                "pending": self.pending, "status": self.status, "version": self.version}


def merge(base: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    """AWS's merge of a shadow update: objects merged key by key, ``None`` removes a key."""
    out = dict(base)
    for key, value in change.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            merged = merge(out[key], value)
            if merged:
                out[key] = merged
            else:
                out.pop(key)
        elif isinstance(value, dict):
            cleaned = merge({}, value)
            if cleaned:
                out[key] = cleaned
        else:
            out[key] = value
    return out


def pending(desired: dict[str, Any], reported: dict[str, Any]) -> dict[str, Any]:
    """AWS's delta: desired keys absent from or different in reported (objects compared key by key)."""
    out: dict[str, Any] = {}
    for key, want in desired.items():
        have = reported.get(key)
        if isinstance(want, dict) and isinstance(have, dict):
            sub = pending(want, have)
            if sub:
                out[key] = sub
        elif have != want:
            out[key] = want
    return out


class LmsConfigService:
    def __init__(self, sites: SiteRepository, shadows: ShadowStore, namespace: Namespace,
                 site_stale_s: float) -> None:
        self._sites = sites
        self._shadows = shadows
        self._namespace = namespace
        self._site_stale_s = site_stale_s

    def read(self, principal: Principal, site_id: str) -> LmsConfigView:
        site = visible_site(self._sites, site_id, principal)
        return self._view(site.site_id, self._document(site.site_id))

    def set_desired(self, principal: Principal, site_id: str, config: dict[str, Any],
                    expected_version: int | None = None) -> LmsConfigView:
        """Merge ``config`` into the desired configuration (``None`` removes a key: the LMS's file decides it)."""
        site = visible_site(self._sites, site_id, principal)
        principal.require_sites({site.site_id})
        check(config)
        check_heartbeat_period(config, site, self._site_stale_s)
        thing, shadow = site_thing_name(self._namespace, site.site_id), lms_config_shadow_name()
        for _ in range(WRITE_ATTEMPTS):
            before = self._document(site.site_id)
            if expected_version is not None and (before.version or 0) != expected_version:
                raise Conflict(f"site {site_id}: the LMS configuration is at version {before.version or 0}, not "
                               f"{expected_version}; read it again")
            desired = merge(before.state.desired or {}, config)
            state = {"desired": desired, "reported": before.state.reported or {}}
            size = len(json.dumps(state, separators=(",", ":"), ensure_ascii=False).encode())
            if size > MAX_SHADOW_STATE_BYTES:
                raise BadRequest(f"config: the shadow would hold {size} bytes of state, over AWS's "
                                 f"{MAX_SHADOW_STATE_BYTES}-byte limit")
            try:
                self._shadows.update(thing, shadow, lms_config_update("desired", config, version=before.version))
            except ShadowConflict:
                if expected_version is not None:
                    raise
                log.info("site %s LMS configuration: the shadow changed while writing; reading it again", site_id)
                continue
            log.info("site %s LMS configuration: desired %s by %s", site_id, ", ".join(sorted(config)),
                     principal.name)  # fmt: skip
            return self._view(site.site_id, self._document(site.site_id))
        raise Conflict(f"site {site_id}: its LMS configuration changed {WRITE_ATTEMPTS} times while writing; retry")

    def _document(self, site_id: str) -> LmsConfigShadow:
        thing, shadow = site_thing_name(self._namespace, site_id), lms_config_shadow_name()
        return read_document(self._shadows, thing, shadow, LmsConfigShadow)

    @staticmethod
    def _view(site_id: str, document: LmsConfigShadow) -> LmsConfigView:
        desired = merge({}, document.state.desired or {})  # without empty objects (left where every key was removed)
        reported = {k: v for k, v in (document.state.reported or {}).items() if k != STATUS_KEY}
        status = document.status()
        return LmsConfigView(site_id, desired, reported, pending(desired, reported),
                             status.model_dump() if status is not None else None, document.version or 0)


def check_heartbeat_period(config: dict[str, Any], site: Site, site_stale_s: float) -> None:
    """400 for a full site heartbeat period the cloud would show as an outage: over ``FULL_PERIOD_MAX_S`` (the most
    a heartbeat may state), or, while the site's LMS has stated none (an older LMS: the cloud judges it by
    ``site_stale_s`` whatever its period), over a third of ``site_stale_s`` (two lost heartbeats in a row are
    tolerated at a third)."""
    period = config.get("site_heartbeat_s")
    if period is None:
        return
    if site.full_period_s is None and period > site_stale_s / 3:
        raise BadRequest(f"config: site_heartbeat_s at most {site_stale_s / 3:g} s until the site's LMS states its "
                         f"period in its heartbeats (an older LMS): the cloud shows it down {site_stale_s:g} s after "
                         "its last full heartbeat (CLASSTOP_SITE_STALE_S)")
    if period > FULL_PERIOD_MAX_S:
        raise BadRequest(f"config: site_heartbeat_s at most {FULL_PERIOD_MAX_S:g} s: the cloud shows a silent site "
                         f"down {STALE_PERIODS:g} periods after its last full heartbeat")


def check(config: Any) -> None:
    """400 unless ``config`` is a non-empty object of cloud-settable keys with values of the right JSON types.
    ``null`` removes a key -- any key, so that a document someone wrote straight into the shadow can be repaired.
    The bounds are the LMS's: it rejects what its version cannot take and reports why."""
    if not isinstance(config, dict) or not config:
        raise BadRequest("config: give an object with at least one setting")
    try:
        LmsConfigOverlay.model_validate(merge({}, config))  # a null removes any key, even one never settable
    except ValidationError as exc:
        raise BadRequest("config: " + describe_validation_error(exc).replace("Extra inputs are not permitted",
                                                                             "not settable from the cloud")) from None
