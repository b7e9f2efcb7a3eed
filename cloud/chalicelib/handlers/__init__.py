"""IoT-rule handlers, registered as ``@lambda_function``s of the app through :data:`blueprint`.

:data:`RULE_HANDLERS` maps each Lambda name (``infra.aws.rules.Rule.handler``) to the plain
``function(event, context)``, which the local twin's rules engine calls directly.

In Lambda a rule or schedule function's ``Handler`` is ``chalicelib.handlers.<name>``: the runtime imports this
module, never ``app.py`` (whose routes are the API function's path, docs/deploy.md#cold-starts). So this module
turns on the JSON logs and metrics itself and gives each function the app's middleware
(``observability.middleware``); registered with the app (``app.py``: the local twin, the tests, ``chalice
package``), a function gets the app's middleware instead, the same one.
"""

from __future__ import annotations

from chalice.app import Blueprint, EventSourceHandler, Rate

from chalicelib import observability
from chalicelib.handlers import rules
from chalicelib.handlers.alert_schedules import alert_digest as _alert_digest
from chalicelib.handlers.alert_schedules import evaluate_alerts as _evaluate_alerts
from chalicelib.handlers.events import LambdaHandler
from chalicelib.handlers.sweeper import expire_commands as _expire_commands

#: how often the command sweeper runs
SWEEP_RATE_MINUTES = 5
#: how often the cloud's alert conditions are evaluated (and failed webhook deliveries retried)
ALERT_RATE_MINUTES = 1

RULE_HANDLERS: dict[str, LambdaHandler] = {
    handler.__name__: handler
    for handler in (rules.site_heartbeat, rules.command_results, rules.site_events, rules.site_sync,
                    rules.site_metrics, rules.agents_retired, rules.upgrade_reports, rules.site_alerts,
                    rules.site_presence)
}

blueprint = Blueprint(__name__)

# Chalice names a blueprint's Lambda handler "<blueprint module>.<function name>", so the registered
# functions must be attributes of this module under their own names.
site_heartbeat = blueprint.lambda_function(name="site_heartbeat")(rules.site_heartbeat)
command_results = blueprint.lambda_function(name="command_results")(rules.command_results)
site_events = blueprint.lambda_function(name="site_events")(rules.site_events)
site_sync = blueprint.lambda_function(name="site_sync")(rules.site_sync)
site_metrics = blueprint.lambda_function(name="site_metrics")(rules.site_metrics)
agents_retired = blueprint.lambda_function(name="agents_retired")(rules.agents_retired)
upgrade_reports = blueprint.lambda_function(name="upgrade_reports")(rules.upgrade_reports)
site_alerts = blueprint.lambda_function(name="site_alerts")(rules.site_alerts)
site_presence = blueprint.lambda_function(name="site_presence")(rules.site_presence)
evaluate_alerts = blueprint.schedule(Rate(ALERT_RATE_MINUTES, unit=Rate.MINUTES), name="evaluate_alerts")(
    _evaluate_alerts
)
alert_digest = blueprint.schedule(Rate(1, unit=Rate.DAYS), name="alert_digest")(_alert_digest)
expire_commands = blueprint.schedule(Rate(SWEEP_RATE_MINUTES, unit=Rate.MINUTES), name="expire_commands")(
    _expire_commands
)

observability.configure()
for _function in (site_heartbeat, command_results, site_events, site_sync, site_metrics, agents_retired,
                  upgrade_reports, site_alerts, evaluate_alerts, alert_digest, expire_commands):
    if isinstance(_function, EventSourceHandler):  # replaced by the app's middleware when registered with it
        _function.middleware_handlers = [observability.middleware]

__all__ = ["ALERT_RATE_MINUTES", "RULE_HANDLERS", "SWEEP_RATE_MINUTES", "agents_retired", "alert_digest",
           "blueprint", "command_results", "evaluate_alerts", "expire_commands", "site_alerts", "site_events",
           "site_heartbeat", "site_metrics", "site_presence", "site_sync", "upgrade_reports"]
