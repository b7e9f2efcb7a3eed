"""The ClassTop Fleet agent: one per classroom PC or server, talking MQTT to its site's LMS.

Run it with ``classtop-agent run --config FILE.toml`` (or ``python -m edge.agent --config FILE.toml``); install
and enrol it with ``classtop-agent install`` and ``classtop-agent enrol`` (``README.md`` here). Modules, one
noun each: ``config`` (the TOML file), ``uplink`` (the MQTT client and what goes up), ``presence`` (status, Last
Will, heartbeat), ``metrics`` (psutil samples), ``inventory`` (host facts for ``get_info``), ``settings`` (the
durable settings store), ``executor`` (remote ``exec`` policy and process runner), ``workers`` (the bounded
pool commands run on), ``commands`` (what each command does), ``dispatcher`` (command in, response out),
``logfile`` (logging setup and ``get_logs``), ``outbox`` (the durable, ordered queue of responses and
events) and ``outbox_sender`` (its in-order sender), ``events`` (the ``Event`` kinds it publishes),
``classtop`` / ``classtop_import`` / ``classtop_commands`` (this PC's courses and schedule), ``processes``
(the rare process-list sample), ``enrolment`` (broker credentials from the LMS) and ``credentials`` (where they
are kept), ``exec_policy`` / ``exec_env`` (what ``exec`` may run, and with which environment), ``camera/`` (the
CCTV part), ``footprint`` (keeping the idle agent small), ``cli`` (the ``classtop-agent`` command),
``install`` (its systemd service), ``enrolment_setup`` (``classtop-agent enrol``: the site CA pinned,
``[enroll]`` written) and ``upgrade`` / ``upgrade_slots`` / ``upgrade_supervisor`` (signed upgrades from the LMS:
install slots, restart, rollback; docs/upgrades.md). Start-up and stop: ``__main__`` (through
``shared.lifecycle``); the periodic loops run on ``shared.periodic``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from edge.agent.deferred_modules import defer
from shared.messages.schema_builds import defer_schema_builds

defer()  # before paho, msgspec and the agent's own modules import what they use only rarely (edge.agent.footprint)
defer_schema_builds()  # before any of the agent's models are defined (edge.agent.footprint)

#: an installed agent package (edge/agent/upgrade_slots.py) carries its version in <package root>/VERSION
_PACKAGE_VERSION = Path(__file__).resolve().parents[2] / "VERSION"


def _installed_version(dist: str) -> str | None:
    """``Version:`` of the installed distribution ``dist``'s metadata on ``sys.path``, else None.

    What ``importlib.metadata.version`` finds (a ``*.dist-info/METADATA`` or ``*.egg-info/PKG-INFO`` whose name,
    normalised, is ``dist``'s), read without importing ``importlib.metadata``: with the ``email`` parser,
    ``zipfile`` and ``csv`` it brings, it would add ~2.5 MB to the idle agent (edge.agent.footprint)."""
    wanted = dist.replace("-", "_").lower()
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            stem, dot, kind = name.rpartition(".")
            if not dot or kind not in ("dist-info", "egg-info") or stem.split("-")[0].lower() != wanted:
                continue
            meta = Path(entry or ".", name, "METADATA" if kind == "dist-info" else "PKG-INFO")
            try:
                lines = meta.read_text(encoding="utf-8").splitlines()
            except OSError:
                continue
            for line in lines:
                if not line.strip():
                    break  # the headers end at the first blank line
                if line.startswith("Version:"):
                    return line.partition(":")[2].strip()[:64]
    return None


def _version() -> str:
    """The upgrade slot's ``VERSION``, else the installed agent package's (``classtop-agent``), else the project's."""
    if _PACKAGE_VERSION.is_file():
        return _PACKAGE_VERSION.read_text(encoding="utf-8").strip()[:64]
    for dist in ("classtop-agent", "classtop-fleet"):
        version = _installed_version(dist)
        if version is not None:
            return version
    return "0.0.0+local"  # running from a source tree that was never installed


__version__ = _version()
