"""``upgrade_agent``: download a signed package from the LMS, verify it, install it, restart into it.

Order (nothing on disk changes before the package has passed every check): upgrades configured; version newer
than the running one (a replayed old package is a downgrade: refused); download (size-capped, the site CA
trusted when the agent enrolled); sha256; the release key's signature over version + sha256; unpack into
``versions/<version>`` (:mod:`edge.agent.upgrade_slots`); switch ``current`` with a pending marker; answer; then
exit with :data:`EXIT_RESTART` so the service manager (systemd, or the test's supervisor) starts the new code.
The new agent confirms once it is online (:meth:`UpgradeCommands.on_online`); otherwise the deadline rolls it
back (docs/upgrades.md).
"""

from __future__ import annotations

import logging
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from edge.agent import __version__
from edge.agent.upgrade_slots import Slots
from edge.agent.workers import PoolFull, WorkerPool
from shared.agent_packages import MAX_PACKAGE_BYTES, PackageError, is_newer, public_key_of, verify
from shared.errors import CommandError, ErrorCode
from shared.messages.structs import Command

if TYPE_CHECKING:  # the parameter models load pydantic (on the first command)
    from pydantic import BaseModel

    from edge.agent.config_structs import UpgradeSettings
    from shared.commands import UpgradeAgentParams

log = logging.getLogger(__name__)

#: the exit code that asks the service manager for a restart (EX_TEMPFAIL; the unit's RestartForceExitStatus)
EXIT_RESTART = 75
NOT_CONFIGURED = "upgrades are not configured on this agent (no [upgrade] root and release_public_key)"


class UpgradeCommands:
    """The ``upgrade_agent`` handler and the confirmation hook of one agent."""

    def __init__(
        self,
        settings: UpgradeSettings | None,
        pool: WorkerPool,
        request_restart: Callable[[], None],
        ca_file: Path | None = None,
        running_version: str = __version__,
    ) -> None:
        self.settings = settings
        self.slots = Slots(settings.root) if settings is not None else None
        self.pool = pool
        self.request_restart = request_restart
        self.ca_file = ca_file
        self.running = running_version
        self._busy = threading.Lock()

    def table(self) -> dict[str, Callable[[Command, BaseModel], Any]]:
        return {"upgrade_agent": self.upgrade_agent}

    def on_online(self) -> None:
        """Connected and announced: confirm a pending upgrade to the running version."""
        if self.slots is not None:
            try:
                self.slots.confirm(self.running)
            except OSError as exc:
                log.error("could not confirm the upgrade to %s: %s", self.running, exc)

    def upgrade_agent(self, cmd: Command, params: BaseModel) -> Future[dict[str, Any]]:
        p = cast("UpgradeAgentParams", params)
        if self.settings is None or self.slots is None:
            raise CommandError(NOT_CONFIGURED, code=ErrorCode.NOT_SUPPORTED)
        if not is_newer(p.version, self.running):
            raise CommandError(f"refused: {p.version} is not newer than the running {self.running} (no downgrades)",
                               code=ErrorCode.INVALID_PARAMS)  # fmt: skip
        if self.slots.current() is None:
            raise CommandError(f"refused: no installed version under {self.slots.root} (install the agent there "
                               "first)", code=ErrorCode.NOT_SUPPORTED)  # fmt: skip
        if not self._busy.acquire(blocking=False):
            raise CommandError("an upgrade is already running", code=ErrorCode.BUSY)
        try:
            return self.pool.submit(lambda: self._upgrade(cmd, p))
        except PoolFull as exc:
            self._busy.release()
            raise CommandError(str(exc), code=ErrorCode.BUSY) from None

    def _upgrade(self, cmd: Command, p: UpgradeAgentParams) -> dict[str, Any]:
        assert self.settings is not None and self.slots is not None
        try:
            data = self._download(p.url)
            verify(public_key_of(self.settings.release_public_key), p.version, data, p.sha256, p.signature)
            self.slots.install(p.version, data)
            pending = self.slots.switch(p.version, p.rollback_s)
        except PackageError as exc:
            log.error("upgrade_agent request_id=%s to %s refused: %s", cmd.request_id, p.version, exc.message)
            self._busy.release()
            raise CommandError(exc.message, code=ErrorCode.INVALID_PARAMS) from None
        except OSError as exc:
            self._busy.release()
            raise CommandError(f"could not install {p.version}: {exc}", code=ErrorCode.INTERNAL) from None
        log.warning("upgrade_agent request_id=%s: %s installed, restarting into it", cmd.request_id, p.version)
        timer = threading.Timer(self.settings.restart_delay_s, self.request_restart)
        timer.daemon = True
        timer.start()
        return {"version": p.version, "previous": pending.previous, "rollback_at": pending.deadline,
                "restarting": True}  # fmt: skip

    def _download(self, url: str) -> bytes:
        assert self.settings is not None
        context = ssl.create_default_context(cafile=str(self.ca_file)) if self.ca_file and self.ca_file.is_file() \
            else ssl.create_default_context()  # fmt: skip
        try:
            with urllib.request.urlopen(url, timeout=self.settings.download_timeout_s, context=context) as reply:
                data: bytes = reply.read(MAX_PACKAGE_BYTES + 1)
        except urllib.error.HTTPError as exc:
            raise PackageError(f"download refused by the LMS: HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise PackageError(f"download failed: {getattr(exc, 'reason', exc)}") from None
        if len(data) > MAX_PACKAGE_BYTES:
            raise PackageError(f"package is over the {MAX_PACKAGE_BYTES} byte limit")
        return data

