"""The ClassTop Fleet cloud plane (Chalice): HTTP API blueprints and the IoT-rule Lambda functions."""

from __future__ import annotations

from chalice.app import Chalice

from chalicelib import observability
from chalicelib.api import BLUEPRINTS
from chalicelib.handlers import blueprint as rule_handlers

observability.configure()

app = Chalice(app_name="classtop")

for _blueprint in (*BLUEPRINTS, rule_handlers):
    app.register_blueprint(_blueprint)

# every function's every invocation: structured log keys and the metrics it counted (chalicelib/observability.py)
app.register_middleware(observability.middleware, "all")
