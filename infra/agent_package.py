"""The agent package: a wheel ``classtop_agent-<version>-py3-none-any.whl`` with only what a PC runs.

``python -m infra.agent_package --out dist/`` copies ``shared/``, ``edge/__init__.py`` and ``edge/agent/`` of
this repository into a scratch project whose ``pyproject.toml`` is derived from the repository's (same version;
dependencies = the base ones + the ``agent`` extra, resolved; the ``camera`` extra kept as an extra; the console
script ``classtop-agent``) and builds it with pip (no network, no build isolation: setuptools of this venv).
No LMS, cloud or infra code is in it, and none of their dependencies are required. The wheel's name and layout
are what a PC installs: ``pip install classtop_agent-….whl`` into ``/opt/classtop-agent/venv``
(``edge/agent/README.md``).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DIST_NAME = "classtop-agent"
SCRIPT = "edge.agent.cli:main"
#: what goes in: (source relative to the repository, whether it is a whole directory)
CONTENT = (("shared", True), ("edge/__init__.py", False), ("edge/agent", True))
_SELF_RE = re.compile(r"^classtop-fleet\[([a-z,]+)\]$")


class PackageError(Exception):
    """The package cannot be built; the message says why."""


def _project(repo: Path) -> dict[str, Any]:
    project: dict[str, Any] = tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return project


def requirements(project: dict[str, Any], extra: str) -> list[str]:
    """The requirements of ``extra`` with ``classtop-fleet[...]`` references resolved (base dependencies first)."""
    extras: dict[str, list[str]] = project.get("optional-dependencies", {})

    def expand(name: str) -> list[str]:
        out: list[str] = []
        for req in extras[name]:
            match = _SELF_RE.match(req.replace(" ", ""))
            out += [r for part in match.group(1).split(",") for r in expand(part)] if match else [req]
        return out

    result: list[str] = []
    for req in [*project.get("dependencies", []), *expand(extra)]:
        if req not in result:
            result.append(req)
    return result


def pyproject(repo: Path) -> str:
    project = _project(repo)
    return "\n".join([
        "[build-system]",
        'requires = ["setuptools>=68", "wheel"]',
        'build-backend = "setuptools.build_meta"',
        "[project]",
        f"name = {json.dumps(DIST_NAME)}",
        f"version = {json.dumps(project['version'])}",
        'description = "ClassTop Fleet agent: one per classroom PC or server, linked to its site\'s LMS"',
        f"requires-python = {json.dumps(project['requires-python'])}",
        f"dependencies = {json.dumps(requirements(project, 'agent'))}",
        "[project.optional-dependencies]",
        f"camera = {json.dumps(requirements(project, 'camera')[len(project.get('dependencies', [])):])}",
        "[project.scripts]",
        f"{DIST_NAME} = {json.dumps(SCRIPT)}",
        "[tool.setuptools.packages.find]",
        'where = ["."]',
        'include = ["shared*", "edge", "edge.agent*"]',
        "[tool.setuptools.package-data]",
        '"edge.agent" = ["*.example.toml", "*.service"]',
        "",
    ])  # JSON lists and strings are TOML arrays and basic strings


def stage(repo: Path, into: Path) -> Path:
    """A buildable copy of the agent's part of ``repo`` in ``into``."""
    for source, is_dir in CONTENT:
        src, dst = repo / source, into / source
        if is_dir:
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*"))
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    (into / "pyproject.toml").write_text(pyproject(repo), encoding="utf-8")
    (into / "README.md").write_text("ClassTop Fleet agent. See edge/agent/README.md in the repository.\n")
    return into


def build(out: Path, repo: Path = REPO) -> Path:
    """Build the wheel into ``out``; returns its path."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="classtop-agent-build-") as scratch:
        source = stage(repo, Path(scratch) / "src")
        result = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "--quiet",
             "--wheel-dir", str(out), str(source)],
            capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
    if result.returncode != 0:
        raise PackageError(f"pip wheel failed ({result.returncode}): {(result.stderr or result.stdout)[-2000:]}")
    version = _project(repo)["version"]
    wheel = out / f"{DIST_NAME.replace('-', '_')}-{version}-py3-none-any.whl"
    if not wheel.is_file():
        raise PackageError(f"pip wheel did not make {wheel.name}: {sorted(p.name for p in out.iterdir())}")
    return wheel


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.agent_package", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "dist", help="where the wheel goes (default dist/)")
    args = parser.parse_args(argv)
    try:
        print(build(args.out))
    except PackageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
