"""Upgrade campaigns ordered by the cloud (docs/upgrades.md#campaigns-from-the-cloud): an
:class:`~shared.messages.UpgradeOrder` on ``site_down(..., UPGRADE)`` starts or cancels a campaign of this LMS.

**Start**: the package must end up in the LMS's own cache, verified as ``add-package`` verifies it (sha256, the
release key's signature, its ``VERSION`` file): a version the cache holds already must have the order's sha256; one
it lacks is downloaded from the order's ``package_url`` (the tenant's bucket, a presigned URL; at most
:data:`~shared.messages.upgrades.MAX_PACKAGE_BYTES`) first. Then the campaign runs exactly as one started on the
LMS's API (:class:`edge.lms.upgrades.runner.Upgrades`: canary, waves, rollback), by ``cloud:<who>``, its cloud id in
its options. A start for a cloud campaign this LMS has started already only reports it again (orders are delivered
at least once). What the LMS refuses (upgrades not configured, a bad package, another campaign running, an
unknown agent) is reported ``refused`` with the reason. **Cancel**: as ``POST .../cancel`` on the LMS.

Orders are handled one at a time on a worker thread (downloads block); the campaigns run on an event loop of
their own (:class:`CampaignLoop`). The progress goes back through :mod:`edge.lms.cloud.upgrade_reports`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from edge.lms.auth import Audit, Principal, Role
from edge.lms.cloud.upgrade_reports import CampaignReports
from edge.lms.upgrades.runner import NOT_CONFIGURED, UpgradeRefused, Upgrades
from shared.agent_packages import PackageError
from shared.messages import UpgradeOrder
from shared.messages.base import decode_or_none
from shared.messages.upgrades import MAX_PACKAGE_BYTES
from shared.worker_thread import WorkerThread

log = logging.getLogger(__name__)

T = TypeVar("T")
DOWNLOAD_TIMEOUT_S = 300.0
#: orders waiting for the LMS's upgrade service (the API starts after the cloud link) or the worker
MAX_WAITING = 100


class CampaignLoop:
    """An asyncio loop on a thread of its own, where cloud-ordered campaigns run their waves."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="lms-cloud-campaigns", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def run(self, make: Callable[[], Coroutine[Any, Any, T]], timeout_s: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(make(), self.loop).result(timeout_s)

    def stop(self) -> None:
        def cancel_all() -> None:
            for task in asyncio.all_tasks(self.loop):
                task.cancel()
            self.loop.stop()

        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(cancel_all)
            self._thread.join(5.0)


class CloudUpgrades:
    """:meth:`handle` is the cloud link's handler for ``site_down(..., UPGRADE)``; :meth:`attach` gives it the LMS's
    upgrade service once the API has made it."""

    def __init__(self, reports: CampaignReports, audit: Audit, *,
                 download: Callable[[str, int], bytes] | None = None) -> None:  # fmt: skip
        self.reports = reports
        self._audit = audit
        self._download = download or fetch_package
        self._upgrades: Upgrades | None = None
        self._attached = threading.Event()
        self._orders: queue.Queue[UpgradeOrder] = queue.Queue(MAX_WAITING)
        self._worker = WorkerThread("lms-cloud-upgrades", self._run)
        self._loop = CampaignLoop()
        self.handled = 0
        self.refused = 0

    def attach(self, upgrades: Upgrades) -> None:
        self._upgrades = upgrades
        self._attached.set()

    def start(self) -> None:
        self._loop.start()
        self._worker.start()

    def stop(self) -> None:
        self._worker.stop()
        self._loop.stop()

    def handle(self, _topic: str, payload: bytes) -> None:
        order = decode_or_none(UpgradeOrder, payload, log, "cloud upgrade order")
        if order is None:
            self.refused += 1
            return
        try:
            self._orders.put_nowait(order)
        except queue.Full:
            log.warning("cloud upgrade order %s dropped: %d orders wait already (the cloud sends it again)",
                        order.campaign_id, MAX_WAITING)  # fmt: skip

    def _run(self) -> None:
        stopping = self._worker.stopping
        while not stopping.is_set():
            try:
                order = self._orders.get(timeout=0.5)
            except queue.Empty:
                continue
            while not self._attached.wait(0.5):  # the API (which makes the upgrade service) is starting
                if stopping.is_set():
                    return
            try:
                self.process(order)
            except Exception:  # one bad order never stops the worker
                log.exception("cloud upgrade order %s failed", order.campaign_id)

    def process(self, order: UpgradeOrder) -> None:
        """Carry out one order (see the module docstring) and report the outcome."""
        upgrades = self._upgrades
        assert upgrades is not None
        self.handled += 1
        actor = f"cloud:{order.by}"
        existing = upgrades.rows.of_cloud(order.campaign_id)
        if order.action == "cancel":
            if existing is None:  # never started here: nothing will start
                self.reports.refused(order.campaign_id, "cancelled", "cancelled before it started here")
                return
            with contextlib.suppress(UpgradeRefused):  # finished already: its report says how
                upgrades.cancel(existing)
            self._audit.record(actor, None, "upgrade:cancel", f"#{existing}", "ok", {"cloud": order.campaign_id})
            self.reports.report_now(existing, order.campaign_id)
            return
        if existing is not None:  # a start delivered again
            self.reports.report_now(existing, order.campaign_id)
            return
        try:
            campaign = self._start(upgrades, order, Principal(0, actor, Role.ADMIN))
        except UpgradeRefused as exc:
            self.refused += 1
            log.warning("cloud upgrade campaign %s refused: %s", order.campaign_id, exc.message)
            self._audit.record(actor, None, "upgrade:campaign", order.campaign_id, f"refused: {exc.message}")
            self.reports.refused(order.campaign_id, "refused", exc.message, order.version)
            return
        self._audit.record(actor, None, "upgrade:campaign", f"#{campaign['id']}", "ok",
                           {"version": order.version, "agents": len(campaign["agents"]), "cloud": order.campaign_id})
        self.reports.report_now(int(campaign["id"]), order.campaign_id)

    def _start(self, upgrades: Upgrades, order: UpgradeOrder, principal: Principal) -> dict[str, Any]:
        assert order.version is not None and order.sha256 is not None and order.signature is not None
        if upgrades.packages is None:
            raise UpgradeRefused(NOT_CONFIGURED, 409)
        held = upgrades.packages.get(order.version)
        if held is not None and held.sha256 != order.sha256:
            raise UpgradeRefused(f"this LMS holds another package {order.version} (sha256 {held.sha256[:12]}…): a "
                                 "version never changes", 409)  # fmt: skip
        if held is None:
            if not order.package_url:
                raise UpgradeRefused(f"no package {order.version} on this LMS and no URL to download it from", 404)
            started = time.monotonic()
            data = self._download(order.package_url, MAX_PACKAGE_BYTES)
            try:
                upgrades.packages.add(order.version, data, order.sha256, order.signature)
            except PackageError as exc:
                raise UpgradeRefused(f"package {order.version} refused: {exc.message}") from None
            log.info("cloud campaign %s: package %s downloaded and verified (%d bytes, %.1f s)", order.campaign_id,
                     order.version, len(data), time.monotonic() - started)  # fmt: skip

        async def create() -> dict[str, Any]:
            return upgrades.create(principal, order.version or "", order.agent_ids, order.canary_percent,
                                   order.wave_size, cloud_campaign_id=order.campaign_id)  # fmt: skip

        return self._loop.run(create)


def fetch_package(url: str, max_bytes: int) -> bytes:
    """GET ``url`` (the cloud's presigned URL), at most ``max_bytes``; :class:`UpgradeRefused` when it fails."""
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            data: bytes = response.read(max_bytes + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise UpgradeRefused(f"cannot download the package: {exc}", 502) from None
    if len(data) > max_bytes:
        raise UpgradeRefused(f"the package is larger than {max_bytes} bytes")
    return data
