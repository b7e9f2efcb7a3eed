"""The ClassTop Fleet cloud plane: everything the Chalice app (``cloud/app.py``) is built from.

Layers, outermost first: ``api`` (HTTP blueprints) and ``handlers`` (IoT-rule Lambdas) -> ``services`` (the
logic, no Chalice) -> ``repositories`` (PynamoDB ``models`` in, plain ``domain`` dataclasses out) and
``adapters`` (boto3 wrappers). ``container`` wires them from ``config``.
"""

__version__ = "0.1.0"

from shared.messages.schema_builds import defer_schema_builds

# A function validates few of the models it defines (a rule function one message kind, the API one body per
# request): each model builds its validator on first use, the same validation (docs/deploy.md#cold-starts). Asked
# for without loading pydantic: a rule function's import does not load it (shared.messages.schema_builds).
defer_schema_builds()
