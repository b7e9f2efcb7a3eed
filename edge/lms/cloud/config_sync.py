"""The LMS's own configuration from the cloud: the ``lms:config`` named shadow of the site's thing, applied live.

(docs/protocol.md#the-lmss-configuration-from-the-cloud; the documents: :mod:`shared.messages.lms_config`; what
may be set: :mod:`edge.lms.config.cloud_config`.)

* The LMS reads the **whole** ``state.desired`` of the shadow as it reads every named shadow of its thing
  (:class:`edge.lms.named_shadow.NamedShadowReader`: from ``get/accepted``, asked at every (re)connect, and from
  ``update/documents``; throttled or failed gets and reports asked again), lays it over its local file, validates
  the result whole and, when valid, applies it live (:meth:`edge.lms.lms_parts.LmsParts.apply_config`) and stores it;
  when invalid it keeps what is in effect and reports the reason. Either way it reports, through the durable
  outbox, every cloud-settable setting in effect and ``config_status`` (applied / rejected / local, the shadow
  version meant, the reason).
* The last applied desired document is stored in SQLite (``lms_config`` key :data:`STORE_KEY`): an LMS restarted
  without the cloud runs on it (:func:`startup_config`); an LMS that has never reached the cloud runs on its file.
* ``get/rejected`` 404 (no such shadow: nothing desired) puts the local file back in effect.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edge.lms.cloud.outbox import Outbox
from edge.lms.config import CloudConfigError, LmsConfig, cloud_settable_values, with_cloud_config
from edge.lms.named_shadow import MAX_DOCUMENT_BYTES, MAX_RETRIES, NamedShadowReader, ShadowPublisher, canonical
from edge.lms.store import Store
from shared import topics
from shared.config_version import cloud_config_version, local_config_version
from shared.errors import SharedError
from shared.messages.lms_config import STATUS_KEY, lms_config_update
from shared.messages.shadow import ShadowRejection
from shared.names import Namespace
from shared.topics import ShadowOp

log = logging.getLogger(__name__)

#: the ``lms_config`` table's key of the last applied cloud configuration (JSON ``{"desired", "version"}``)
STORE_KEY = "cloud_config"

__all__ = ["MAX_DOCUMENT_BYTES", "MAX_RETRIES", "STATUS_KEY", "STORE_KEY", "AppliedCloudConfig", "ConfigSyncStats",
           "LmsConfigSync", "load_applied", "startup_config"]  # fmt: skip


@dataclass(frozen=True, slots=True)
class AppliedCloudConfig:
    """The cloud's desired document in effect and the shadow version it came with."""

    desired: dict[str, Any]
    version: int | None


def load_applied(store: Store) -> AppliedCloudConfig | None:
    raw = store.get_config(STORE_KEY)
    if not raw:
        return None
    try:
        data = json.loads(raw)
        desired, version = data["desired"], data.get("version")
    except (ValueError, KeyError, TypeError):
        log.warning("cloud configuration: the stored one is unreadable; using the local file")
        return None
    if not isinstance(desired, dict) or not desired or not (version is None or isinstance(version, int)):
        return None
    return AppliedCloudConfig(desired, version)


def startup_config(base: LmsConfig, store: Store) -> tuple[LmsConfig, AppliedCloudConfig | None]:
    """The configuration to start with: the last applied cloud configuration over the local file ``base``, or the
    file alone (never reached the cloud, or the stored configuration no longer fits the file)."""
    applied = load_applied(store)
    if applied is None:
        return base, None
    try:
        effective = with_cloud_config(base, applied.desired)
    except CloudConfigError as exc:
        log.warning("cloud configuration: the stored one (shadow version %s) no longer applies (%s); using the "
                    "local file", applied.version, exc)  # fmt: skip
        return base, None
    log.info("cloud configuration: starting with the last applied one (shadow version %s) over the local file",
             applied.version)  # fmt: skip
    return effective, applied


@dataclass
class ConfigSyncStats:
    documents: int = 0
    applied: int = 0
    rejected: int = 0
    reported: int = 0
    bad_documents: int = 0
    gets: int = 0
    retried: int = 0  # transient refusals asked again


class LmsConfigSync(NamedShadowReader):
    """The ``lms:config`` shadow applied live; :meth:`config_version` for the heartbeats."""

    def __init__(
        self, link: ShadowPublisher, outbox: Outbox, store: Store, *, namespace: Namespace, site_id: str,
        local_config: LmsConfig, effective: LmsConfig, applied: AppliedCloudConfig | None,
        apply_config: Callable[[LmsConfig], None],
    ) -> None:  # fmt: skip
        super().__init__(link, thing=topics.site_thing_name(namespace, site_id),
                         shadow_name=topics.lms_config_shadow_name(), is_mine=topics.is_lms_config_shadow,
                         what="cloud configuration", worker="lms-config")  # fmt: skip
        self._outbox = outbox
        self._store = store
        self._local = local_config
        self._effective = effective
        self._applied = applied
        self._apply_config = apply_config
        self._local_version = local_config_version(local_config)
        self.stats = ConfigSyncStats()

    def config_version(self) -> str:
        """``cloud:<shadow version>`` while a cloud configuration is in effect, else ``local:<hash of the file>``."""
        applied = self._applied
        if applied is not None and applied.version is not None:
            return cloud_config_version(applied.version)
        return self._local_version

    def _ask(self) -> None:
        super()._ask()
        self.stats.gets += 1

    def bad_document(self, op: ShadowOp, why: str) -> None:
        self.stats.bad_documents += 1
        super().bad_document(op, why)

    def _on_rejected(self, op: ShadowOp, rejection: ShadowRejection) -> None:
        before = self.retried
        super()._on_rejected(op, rejection)
        self.stats.retried += self.retried - before

    # ------------------------------------------------------------ applying and reporting

    def on_document(self, desired_doc: dict[str, Any] | None, version: int | None, *, report: bool) -> None:
        desired = desired_doc or {}
        key = canonical(desired)
        self.stats.documents += 1
        in_effect = self._applied.desired if self._applied is not None else {}
        if key == canonical(in_effect):
            self._report(reason=None, version=self._applied.version if self._applied else version)
            return
        try:
            effective = with_cloud_config(self._local, desired)
        except CloudConfigError as exc:
            self.stats.rejected += 1
            log.warning("cloud configuration: rejected shadow version %s: %s", version, exc)
            self._report(reason=str(exc), version=version)
            return
        self._apply_config(effective)
        self._effective = effective
        self._applied = AppliedCloudConfig(desired, version) if desired else None
        self._store.set_config(STORE_KEY, canonical({"desired": desired, "version": version}) if desired else "")
        self.stats.applied += 1
        log.info("cloud configuration: %s (shadow version %s)",
                 f"applied {sorted(desired)}" if desired else "nothing desired: the local file", version)
        self._report(reason=None, version=version)

    def _report(self, *, reason: str | None, version: int | None) -> None:
        state = "rejected" if reason is not None else ("applied" if self._applied is not None else "local")
        values = cloud_settable_values(self._effective)
        values[STATUS_KEY] = {"state": state, "version": version, "config_version": self.config_version(),
                              "reason": reason, "at": round(time.time(), 3)}  # fmt: skip
        topic = topics.shadow(self.thing, ShadowOp.UPDATE, self._shadow)
        try:
            self._outbox.put(topic, lms_config_update("reported", values))
        except (ValueError, SharedError) as exc:
            log.error("cloud configuration: cannot report: %s", exc)
            return
        self.stats.reported += 1
