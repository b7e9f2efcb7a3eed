"""The ``command_results`` rule handler: a site's ``CommandResults`` advance per-agent command outcomes."""

from __future__ import annotations

import dataclasses
from typing import Any

from chalicelib import container
from chalicelib.handlers.events import parse_site_event, run
from shared.messages import CommandResults


def command_results(event: dict[str, Any], context: Any) -> dict[str, Any]:
    def handle() -> dict[str, Any]:
        site_id, message = parse_site_event(event, CommandResults)
        report = container.get().commands.apply_results(site_id, message.results)
        return {"site_id": site_id, **dataclasses.asdict(report)}

    return run("command_results", event, handle)
