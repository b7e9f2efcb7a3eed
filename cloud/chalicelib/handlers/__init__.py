"""IoT-rule handlers, registered as ``@lambda_function``s of the app through :data:`blueprint`.

:data:`RULE_HANDLERS` maps each Lambda name (``infra.aws.rules.Rule.handler``) to the plain
``function(event, context)``, which the local twin's rules engine calls directly.
"""

from __future__ import annotations

from chalice.app import Blueprint, Rate

from chalicelib.handlers.events import LambdaHandler
from chalicelib.handlers.heartbeat import site_heartbeat as _site_heartbeat
from chalicelib.handlers.results import command_results as _command_results
from chalicelib.handlers.site_events import site_events as _site_events
from chalicelib.handlers.site_metrics import site_metrics as _site_metrics
from chalicelib.handlers.site_sync import site_sync as _site_sync
from chalicelib.handlers.sweeper import expire_commands as _expire_commands

#: how often the command sweeper runs
SWEEP_RATE_MINUTES = 5

RULE_HANDLERS: dict[str, LambdaHandler] = {
    "site_heartbeat": _site_heartbeat,
    "command_results": _command_results,
    "site_events": _site_events,
    "site_sync": _site_sync,
    "site_metrics": _site_metrics,
}

blueprint = Blueprint(__name__)

# Chalice names a blueprint's Lambda handler "<blueprint module>.<function name>", so the registered
# functions must be attributes of this module under their own names.
site_heartbeat = blueprint.lambda_function(name="site_heartbeat")(_site_heartbeat)
command_results = blueprint.lambda_function(name="command_results")(_command_results)
site_events = blueprint.lambda_function(name="site_events")(_site_events)
site_sync = blueprint.lambda_function(name="site_sync")(_site_sync)
site_metrics = blueprint.lambda_function(name="site_metrics")(_site_metrics)
expire_commands = blueprint.schedule(Rate(SWEEP_RATE_MINUTES, unit=Rate.MINUTES), name="expire_commands")(
    _expire_commands
)

__all__ = ["RULE_HANDLERS", "SWEEP_RATE_MINUTES", "blueprint", "command_results", "expire_commands",
           "site_events", "site_heartbeat", "site_metrics", "site_sync"]
