"""The ClassTop Fleet cloud plane: everything the Chalice app (``cloud/app.py``) is built from.

Layers, outermost first: ``api`` (HTTP blueprints) and ``handlers`` (IoT-rule Lambdas) -> ``services`` (the
logic, no Chalice) -> ``repositories`` (PynamoDB ``models`` in, plain ``domain`` dataclasses out) and
``adapters`` (boto3 wrappers). ``container`` wires them from ``config``.
"""

__version__ = "0.1.0"
