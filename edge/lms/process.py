"""The LMS process: one site's parts, started in order and stopped in reverse (``python -m edge.lms`` runs it).

Start-up is the list of ``start_*`` steps in :meth:`Lms.start` (one :class:`~shared.lifecycle.Lifecycle`); each
step registers how to undo itself, and shutdown runs those in reverse. A step that cannot succeed raises
:class:`~edge.lms.lms_parts.StartupError` with what to do (``python -m edge.lms`` then exits 1).

Memory: ``python -m edge.lms`` limits glibc to two malloc arenas before any thread starts, and while it runs the main
thread gives the C heap's free pages back every :data:`TRIM_EVERY_S` (:mod:`shared.c_heap`). The LMS's thirty-odd
threads share one SQLite connection: with an arena per thread, each arena kept its own share of SQLite's page cache
and its own free holes, and the resident size crept up for hours under the soak's load
(docs/operations.md, "Soak").
"""

from __future__ import annotations

import gc
import logging

from edge.lms import __version__
from edge.lms.service_steps import ServiceSteps
from edge.lms.site_steps import SiteSteps
from shared import c_heap

log = logging.getLogger("edge.lms")

#: how often (s) the running LMS gives the C heap's free pages back to the operating system (``malloc_trim``)
TRIM_EVERY_S = 60.0


class Lms(SiteSteps, ServiceSteps):
    """The LMS process: its parts (:class:`~edge.lms.lms_parts.LmsParts`), started in order
    (``site_steps.py``, ``service_steps.py``) and stopped in reverse."""

    # ------------------------------------------------------------ the steps

    def start(self) -> None:
        self.lifecycle.start([
            self.start_database_lock,
            self.start_log_file,
            self.start_site_tls,
            self.start_store,
            self.start_credentials,
            self.start_site_broker,
            self.start_registry,
            self.start_history,
            self.start_events,
            self.start_change_feed,
            self.start_router,
            self.start_queue,
            self.start_legacy,
            self.start_alerts,
            self.start_cloud_link,
            self.start_alert_evaluation,
            self.connect_site_broker,
            self.start_api,
            self.start_tls_renewal,
        ])
        # What start-up made (modules, models, the API's routes: ~500,000 objects) lives as long as the process:
        # out of the collector's sight, a full collection walks only what came since (at 10,000 agents each one
        # took tens of milliseconds of the GIL, the command round trip's p99 and the intake's CPU).
        gc.freeze()

    # ------------------------------------------------------------ running and stopping

    def stop(self) -> None:
        self.lifecycle.stop()

    def run(self) -> None:
        """Start, serve until the stop event, stop. Raises :class:`~edge.lms.lms_parts.StartupError`."""
        try:
            self.start()
            log.info("LMS %s of site %s (%s) is running", __version__, self.config.site_id, self.config.namespace)
            c_heap.trim()  # what start-up freed
            while not self.stop_event.wait(TRIM_EVERY_S):
                c_heap.trim()
            log.info("stopping")
        finally:
            self.stop()
        log.info("stopped")
