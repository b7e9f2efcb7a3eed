"""The LMS's own log in a rotating file (``[log_file]``): what the cloud's log requests read
(edge/lms/cloud/log_uploads.py).

The handler is added to the root logger beside whatever else logs (stderr, set up by ``python -m edge.lms``) and
writes the agent's line format in UTC (``2025-01-31T08:15:02.123Z INFO edge.lms.x [thread] message``), which
:func:`shared.log_export.select` reads by time and level.
"""

from __future__ import annotations

import logging
import logging.handlers
import time
from pathlib import Path

from edge.lms.config import LogFileSettings
from shared.log_export import rotated_files

FORMAT = "%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s [%(threadName)s] %(message)s"
DATEFMT = "%Y-%m-%dT%H:%M:%S"


class _UtcFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return time.strftime(datefmt or DATEFMT, time.gmtime(record.created))


class LmsLogFile:
    """:meth:`open` adds the file handler to the root logger, :meth:`close` removes it; :meth:`files` lists the
    file and its rotated copies, oldest first."""

    def __init__(self, path: Path, settings: LogFileSettings) -> None:
        self.path = Path(path)
        self.settings = settings
        self._handler: logging.Handler | None = None

    def open(self) -> LmsLogFile:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            self.path, maxBytes=self.settings.max_bytes, backupCount=self.settings.backups, encoding="utf-8"
        )
        handler.setFormatter(_UtcFormatter(FORMAT, DATEFMT))
        logging.getLogger().addHandler(handler)
        self._handler = handler
        return self

    def close(self) -> None:
        handler, self._handler = self._handler, None
        if handler is not None:
            logging.getLogger().removeHandler(handler)
            handler.close()

    def files(self) -> list[Path]:
        return rotated_files(self.path, self.settings.backups)
