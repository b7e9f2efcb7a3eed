"""The idle agent stays small: heavy modules stay out of a plain start, and the glibc measures work."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pytest

from edge.agent import footprint

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("entry", ["edge.agent.__main__", "edge.agent.cli"])
def test_starting_the_agent_does_not_load_modules_it_does_not_need(entry: str) -> None:
    """``python -m edge.agent``, and ``classtop-agent run`` (the console script the service starts: ``edge.agent.cli``,
    whose ``install`` and ``enrol`` steps load what they need when run)."""
    code = (
        f"import sys, {entry}, edge.agent.__main__\n"
        "heavy = ['sqlite3', 'logging.handlers', 'edge.agent.classtop_import', 'cv2', 'numpy', 'cryptography',\n"
        "         'shared.messages.site', 'shared.messages.sync', 'shared.messages.retirement',\n"
        "         'shared.messages.upgrades', 'shared.messages.logs',\n"
        "         'shared.messages.agent', 'shared.messages.command',  # its messages are msgspec mirrors\n"
        "         'importlib.metadata', 'importlib.resources', 'http.client', 'email.message']\n"
        "heavy += [m for m in edge.agent.deferred_modules.DEFERRED if type(sys.modules.get(m)).__name__ == 'module']\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim and mallopt are glibc's")
def test_glibc_measures_apply() -> None:
    assert footprint.limit_arenas(2)
    assert footprint.trim()


@pytest.mark.parametrize("columns", ["57", "200", "", "junk"])
def test_the_help_reads_as_argparse_writes_it(columns: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """footprint.HelpFormatter finds the width without shutil, the same width argparse's own formatter finds."""
    import argparse

    monkeypatch.setenv("COLUMNS", columns)

    def parser(formatter: type[argparse.HelpFormatter]) -> argparse.ArgumentParser:
        p = argparse.ArgumentParser(prog="classtop-agent", description="x " * 80, formatter_class=formatter)
        p.add_argument("--config", metavar="FILE.toml", help="the agent configuration file, " * 5)
        return p

    assert parser(footprint.HelpFormatter).format_help() == parser(argparse.HelpFormatter).format_help()
