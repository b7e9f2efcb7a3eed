"""docs/openapi.json is the document the code builds, and it lists exactly the app's routes."""

from __future__ import annotations

import json
from pathlib import Path

from app import app

from chalicelib.api import ROUTES
from chalicelib.api.openapi import build_document

DOC = Path(__file__).resolve().parents[3] / "docs" / "openapi.json"


def test_openapi_document_is_current() -> None:
    stored = json.loads(DOC.read_text())
    assert stored == build_document(), "regenerate: python cloud/manage.py openapi > docs/openapi.json"


def test_openapi_lists_exactly_the_app_routes() -> None:
    documented = {(method.upper(), path) for path, ops in json.loads(DOC.read_text())["paths"].items()
                  for method in ops}
    actual = {(method, path) for path, entries in app.routes.items() for method in entries}
    assert documented == actual
    # every route that parses a body declares it (and so documents it)
    bodies = {(r.method, r.path) for r in ROUTES if r.body is not None}
    assert bodies <= actual
    for (method, path) in actual - bodies:
        assert method in ("GET", "DELETE") or path.endswith(("/approve", "/reject")), (method, path)
