"""The fan-out's results on their way to the cloud: what the :class:`~edge.lms.commands.result_buffer.ResultBuffer`
holds is written to the durable outbox in as few ``CommandResults`` messages as fit, and only then are the rows of
the requests it ended deleted from ``cloud_requests`` (a crash in between asks the agent again, never loses the
result: docs/architecture.md#delivery-of-commands-and-results). Results the outbox could not store (its disk full)
stay here, in order, and are written again every :data:`RETRY_S` until it takes them. The fan-out's worker thread
owns it."""

from __future__ import annotations

import logging
import time
from typing import Protocol

from edge.lms.commands.cloud_requests import CloudRequestRows
from edge.lms.commands.result_buffer import MAX_RESULTS_PER_MESSAGE, ResultBuffer
from shared.messages import AgentResult, CommandResults

log = logging.getLogger(__name__)

#: how soon results the outbox refused are written again
RETRY_S = 1.0


class ResultsOutbox(Protocol):
    """Where results go: the cloud outbox (durable when ``put`` returns; ``ValueError`` for a message too big)."""

    def put(self, topic: str, message: CommandResults) -> int: ...


class ResultWriter:
    def __init__(self, buffer: ResultBuffer, outbox: ResultsOutbox, topic: str, rows: CloudRequestRows | None) -> None:
        self._buffer = buffer
        self._outbox = outbox
        self._topic = topic
        self._rows = rows
        self._ended: list[tuple[str, str]] = []  # requests whose terminal result goes out with the next flush
        self._unstored: list[AgentResult] = []  # refused by the outbox (disk full): written again first
        self._retry_at: float | None = None  # time.monotonic()
        self.written = 0

    def retry_wait_s(self) -> float | None:
        """How long until results the outbox refused are written again (None: none waiting)."""
        return None if self._retry_at is None else max(0.0, self._retry_at - time.monotonic())

    def retry_due(self) -> bool:
        return self._retry_at is not None and time.monotonic() >= self._retry_at

    def ended(self, key: tuple[str, str]) -> None:
        """The terminal result of ``(command id, agent)`` is in the buffer: its row goes after the next flush."""
        self._ended.append(key)

    def flush(self) -> None:
        """Write what the buffer holds (in order) to the outbox in as few messages as fit."""
        pending, self._unstored = self._unstored + self._buffer.take(), []
        for i in range(0, len(pending), MAX_RESULTS_PER_MESSAGE):
            if self._unstored:  # keep the order: nothing after a refused chunk goes first
                self._unstored.extend(pending[i : i + MAX_RESULTS_PER_MESSAGE])
            else:
                self._put(pending[i : i + MAX_RESULTS_PER_MESSAGE])
        if self._unstored:
            self._retry_at = time.monotonic() + RETRY_S
            log.warning("fanout: %d result(s) wait for the outbox to take them (written again in %g s)",
                        len(self._unstored), RETRY_S)  # fmt: skip
            return  # their requests' rows stay (a crash meanwhile: the next start asks again)
        self._retry_at = None
        ended, self._ended = self._ended, []
        if self._rows is not None:
            try:
                self._rows.remove(ended)
            except Exception:
                log.exception("fanout: could not delete %d finished request(s)", len(ended))
        by_command: dict[str, list[AgentResult]] = {}
        for result in pending:
            by_command.setdefault(result.request_id, []).append(result)
        for command_id, results in by_command.items():
            statuses = sorted({r.status.value for r in results})
            log.info("fanout: results for the cloud command_id=%s agents=%d statuses=%s", command_id, len(results),
                     ",".join(statuses), extra={"command_id": command_id})  # fmt: skip

    def _put(self, chunk: list[AgentResult]) -> bool:
        """Into the outbox; False (and the chunk kept in ``_unstored``) when it could not be stored (a too large
        result is dropped: True)."""
        try:
            self._outbox.put(self._topic, CommandResults(results=chunk))
        except ValueError:  # too big for one message: halve it (order kept)
            if len(chunk) == 1:
                log.error("fanout: result of %s for %s is too large; dropped", chunk[0].request_id, chunk[0].agent_id)
                return True
            half = len(chunk) // 2
            first = self._put(chunk[:half])
            if self._unstored:  # the first half was refused: the second waits behind it
                self._unstored.extend(chunk[half:])
                return False
            return self._put(chunk[half:]) and first
        except Exception as exc:
            log.error("fanout: could not queue %d result(s) for the cloud: %s", len(chunk), exc)
            self._unstored.extend(chunk)
            return False
        self.written += len(chunk)
        return True
