"""The fan-out's results on their way to the cloud: what the :class:`~edge.lms.commands.result_buffer.ResultBuffer`
holds is written to the durable outbox in as few ``CommandResults`` messages as fit, and only then are the rows of
the requests it ended deleted from ``cloud_requests`` (a crash in between asks the agent again, never loses the
result: docs/architecture.md#delivery-of-commands-and-results). The fan-out's worker thread owns it."""

from __future__ import annotations

import logging
from typing import Protocol

from edge.lms.commands.cloud_requests import CloudRequestRows
from edge.lms.commands.result_buffer import MAX_RESULTS_PER_MESSAGE, ResultBuffer
from shared.messages import AgentResult, CommandResults

log = logging.getLogger(__name__)


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
        self.written = 0

    def ended(self, key: tuple[str, str]) -> None:
        """The terminal result of ``(command id, agent)`` is in the buffer: its row goes after the next flush."""
        self._ended.append(key)

    def flush(self) -> None:
        """Write what the buffer holds (in order) to the outbox in as few messages as fit."""
        pending = self._buffer.take()
        stored = True
        for i in range(0, len(pending), MAX_RESULTS_PER_MESSAGE):
            stored = self._put(pending[i : i + MAX_RESULTS_PER_MESSAGE]) and stored
        ended, self._ended = self._ended, []
        if self._rows is not None and stored:  # else kept: the next start asks again
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
        """Into the outbox; False when it could not be stored (a too large result is dropped: True)."""
        try:
            self._outbox.put(self._topic, CommandResults(results=chunk))
        except ValueError:  # too big for one message: halve it (order kept)
            if len(chunk) == 1:
                log.error("fanout: result of %s for %s is too large; dropped", chunk[0].request_id, chunk[0].agent_id)
                return True
            half = len(chunk) // 2
            first = self._put(chunk[:half])
            return self._put(chunk[half:]) and first
        except Exception:
            log.exception("fanout: could not queue %d result(s) for the cloud", len(chunk))
            return False
        self.written += len(chunk)
        return True
