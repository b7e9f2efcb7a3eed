"""Keeping the idle agent small (issue 3: an idle agent under 1 % of a core and under 40 MB RSS).

Where the memory goes (``bench/agent_idle.py``; figures for CPython 3.11 on x86-64): the interpreter
~10.6 MB, psutil ~2.6 MB, paho-mqtt with ``ssl`` ~9.4 MB, pydantic (library and the shared models)
~12 MB; the agent's own modules and the rest of the standard library ~3 MB. What was cut: the outbox is a
plain append-only file rather than SQLite (``sqlite3`` and its library: ~1.5 MB), the log rotates without
``logging.handlers`` (~0.6 MB), and the ClassTop importer loads only when used. The skeleton agent measured
40.4 MB; with the outbox, ClassTop data and process sampling added it measures ~38.6 MB. Two cheap glibc
measures take back what start-up leaves behind:

* :func:`limit_arenas` before any thread starts: at most two malloc arenas instead of one per thread
  (each thread that allocates would otherwise keep its own partly used 64 MB arena);
* :func:`trim` once start-up is done: return the heap freed after imports, configuration parsing and the
  first samples to the operating system (``malloc_trim``).

Issue 18 (as light as ``prometheus-node-exporter``) moved more to first use: ``cryptography`` (~8 MB; upgrades'
signature checks and site CA rotation only), the message families the agent never handles (``shared.messages``
loads each on first access) and the message schemas themselves (``defer_build``). ``bench/agent_footprint.py``
breaks an idle agent's imports down; edge/agent/README.md ("Footprint") has the table. The agent's messages are
msgspec mirrors of the models (``shared.messages.structs``), and so are its configuration
(``edge.agent.config_structs``) and its ClassTop data: an idle agent never imports pydantic
(``tests/integration/agent/test_agent_process.py`` reads the process's mapped files). pydantic loads on first
use only: the first command (its parameter models, ``shared.commands``), a configuration file the mirrors refuse
(the pydantic models give the error message), an enrolment, a ClassTop import at start
(``[classtop] import_path``) and CCTV (``[camera] enabled``).

The third step (edge/agent/README.md, "Where the 30 MB went, and the floor"): the version read without
``importlib.metadata``, rarely used modules imported on first use (:mod:`edge.agent.deferred_modules`), paho's proxy
lookup skipped when no proxy is configured (:func:`skip_proxy_lookup`), no ``shutil`` or ``tempfile`` at idle
(:class:`HelpFormatter`, ``shared.files``) and one malloc arena (30.2 -> 26.9 MB).

Both glibc measures are :mod:`shared.c_heap`'s (the LMS takes the same measures) and do nothing where glibc is not
the C library.
"""

from __future__ import annotations

import argparse
import os
import sys

from shared.c_heap import limit_arenas, trim

__all__ = ["HelpFormatter", "limit_arenas", "skip_proxy_lookup", "terminal_columns", "trim"]


def terminal_columns() -> int:
    """The terminal's width as ``shutil.get_terminal_size`` finds it (``COLUMNS``, standard output's terminal, else
    80), without importing ``shutil`` (with the ``bz2`` and ``lzma`` it brings: ~0.5 MB of the idle agent)."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, the width found by :func:`terminal_columns`: argparse makes one for every argument
    added, and its own asks ``shutil`` for the terminal's size."""

    def __init__(
        self, prog: str, indent_increment: int = 2, max_help_position: int = 24, width: int | None = None
    ) -> None:
        super().__init__(prog, indent_increment, max_help_position, terminal_columns() - 2 if width is None else width)


def skip_proxy_lookup() -> bool:
    """No ``urllib.request`` on connect when no MQTT proxy is configured; ``True`` when paho was told so.

    paho reads an ``mqtt_proxy`` environment variable on every connect, through ``urllib.request`` (with
    ``http.client`` and ``email``: ~1.5 MB), but only when PySocks is importable: the agent's package does not
    depend on it, so an installed agent never does, while a development environment that has PySocks would.
    Without that variable the lookup finds nothing, so paho is told there is no PySocks (its module's ``socks``,
    which it uses for proxies only): the same connection, without the import. With the variable set, paho is
    left as it is and the proxy is used as before."""
    if any(name.lower() == "mqtt_proxy" for name in os.environ):
        return False
    import paho.mqtt.client as paho

    paho.socks = None  # type: ignore[attr-defined]
    return True
