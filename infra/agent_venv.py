"""The agent as a PC installs it: the agent wheel (``python -m infra.agent_package``) in a fresh venv.

The venv is made without pip and the wheel is installed with ``--no-deps --no-index`` (no network here); its
dependencies are not downloaded but linked from the running venv: only the closure of the wheel's own
``Requires-Dist`` (pydantic, paho-mqtt, psutil, msgspec, cryptography and what they need) is linked, into one
directory the venv reads through a ``.pth`` file. So the installed agent imports exactly what a real install would
have (an import of the LMS's or the cloud's code or dependencies fails there as it would on a PC), and none of this
repository's development files (its editable-install finder, the other tiers' packages). Used by the agent's
installation tests and by ``bench/agent_idle.py``, which measures the agent as installed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

_NAME_RE = re.compile(r"^[A-Za-z0-9._-]+")


def requires(wheel: Path) -> list[str]:
    """The wheel's unconditional ``Requires-Dist`` lines."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        text = archive.read(name).decode()
    return [line.split(":", 1)[1].strip() for line in text.splitlines()
            if line.startswith("Requires-Dist:") and "extra ==" not in line]  # fmt: skip


def closure(requirements: list[str]) -> list[metadata.Distribution]:
    """The installed distributions ``requirements`` need, transitively (markers that name an extra skipped)."""
    seen: dict[str, metadata.Distribution] = {}
    todo = [_NAME_RE.match(r).group(0) for r in requirements]  # type: ignore[union-attr]
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in seen:
            continue
        dist = metadata.distribution(name)
        seen[name] = dist
        todo += [_NAME_RE.match(r).group(0) for r in dist.requires or () if "extra ==" not in r]  # type: ignore[union-attr]
    return list(seen.values())


def _top_level(dist: metadata.Distribution) -> set[str]:
    names = set()
    for file in dist.files or ():
        first = file.parts[0]
        if first not in ("..", "__pycache__") and not first.endswith(".pth"):
            names.add(first)
    return names


def make_venv(root: Path, wheel: Path) -> Path:
    """A fresh venv in ``root/venv`` with ``wheel`` installed; returns its ``bin`` directory."""
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-deps", "--no-index",
         "--quiet", str(wheel)],
        check=True, timeout=300,
    )  # fmt: skip
    deps = root / "deps"
    deps.mkdir()
    for dist in closure(requires(wheel)):
        base = Path(str(dist.locate_file("")))
        for name in _top_level(dist):
            if not (deps / name).exists():
                os.symlink(base / name, deps / name)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "agent-deps.pth").write_text(f"{deps}\n")
    return venv / "bin"


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without the repository on the path or any CLASSTOP_ variable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLASSTOP_", "PYTHON", "VIRTUAL_ENV"))}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}
