"""IoT-rule handlers, registered as ``@lambda_function``s of the app through :data:`blueprint`.

:data:`RULE_HANDLERS` maps each Lambda name (``infra.aws.rules.Rule.handler``) to the plain
``function(event, context)``, which the local twin's rules engine calls directly.
"""

from __future__ import annotations

from chalice.app import Blueprint

from chalicelib.handlers.events import LambdaHandler
from chalicelib.handlers.heartbeat import site_heartbeat as _site_heartbeat
from chalicelib.handlers.results import command_results as _command_results

RULE_HANDLERS: dict[str, LambdaHandler] = {
    "site_heartbeat": _site_heartbeat,
    "command_results": _command_results,
}

blueprint = Blueprint(__name__)

# Chalice names a blueprint's Lambda handler "<blueprint module>.<function name>", so the registered
# functions must be attributes of this module under their own names.
site_heartbeat = blueprint.lambda_function(name="site_heartbeat")(_site_heartbeat)
command_results = blueprint.lambda_function(name="command_results")(_command_results)

__all__ = ["RULE_HANDLERS", "blueprint", "command_results", "site_heartbeat"]
