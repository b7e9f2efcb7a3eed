"""How uvicorn serves the LMS's app: one place for the server settings (the listeners are
:class:`edge.lms.tls.HttpListener`)."""

from __future__ import annotations

from pathlib import Path

import uvicorn
from starlette.types import ASGIApp

from edge.lms.legacy import MAX_FRAME_BYTES


def uvicorn_config(app: ASGIApp, *, cert_file: Path | None, key_file: Path | None) -> uvicorn.Config:
    """The server settings of the LMS's port (HTTPS with ``cert_file``/``key_file``, else plain HTTP)."""
    return uvicorn.Config(
        app,
        log_config=None,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=3,
        loop="auto",  # uvloop and httptools when installed (faster), else asyncio and h11
        http="auto",
        ws="auto",  # ClassTop clients' /ws/{uuid} (the websockets package)
        # Their frames are bounded where they are read: a bigger one closes the connection (1009) before it
        # is buffered; no per-message deflate (its inflater is memory per connection and a bomb's fuse).
        ws_max_size=MAX_FRAME_BYTES,
        ws_per_message_deflate=False,
        timeout_keep_alive=5,  # an idle kept-alive HTTP connection is closed after this long
        ssl_certfile=cert_file,
        ssl_keyfile=key_file,
    )
