"""Commands to agents: the router (one request to one agent, over MQTT or an agent kind's transport), the
command service the API calls (authorise, audit, queue, batches), the offline queue, the command log, the
fan-out of the cloud's commands, and the progress agents report."""

from __future__ import annotations

from edge.lms.commands.command_log import CommandLog, CommandLogEntry
from edge.lms.commands.command_service import AccessError, CommandService, Outcome, Target
from edge.lms.commands.fanout import Fanout
from edge.lms.commands.offline_queue import CommandQueue
from edge.lms.commands.progress import CommandProgress
from edge.lms.commands.router import Router
from edge.lms.commands.ticket import Ticket, Transport, result_dict

__all__ = [
    "AccessError",
    "CommandLog",
    "CommandLogEntry",
    "CommandProgress",
    "CommandQueue",
    "CommandService",
    "Fanout",
    "Outcome",
    "Router",
    "Target",
    "Ticket",
    "Transport",
    "result_dict",
]
