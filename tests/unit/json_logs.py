"""The cloud app's loggers through powertools' JSON Logger, as in Lambda, into a buffer (chalicelib.observability):
for tests that read the lines the functions really write."""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from infra.aws.cloud_app import ensure_importable

ensure_importable()
from chalicelib import observability  # noqa: E402


@contextmanager
def json_logs(environ: Mapping[str, str]) -> Iterator[io.StringIO]:
    """Configure the app's JSON logs for ``environ`` (a Lambda function's), on a fresh buffer; undo it after."""
    stream = io.StringIO()
    assert observability.configure(environ, stream=stream)
    try:
        yield stream
    finally:
        observability.unconfigure()
