"""The version the LMS image reports (issue 19): ``pyproject.toml`` is the one source. The image imports the code
from ``/opt/classtop`` without installing the project (no package metadata), so the Dockerfile copies
``pyproject.toml`` there and ``edge.lms.__version__`` reads it. Checked on the image's file tree (what the
Dockerfile's ``COPY`` lines copy) with this project's installation hidden, as in the container."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import pytest

from tests.fixtures.lms_image import REPO, as_in_the_image, image_tree

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="a private mount namespace hides the project's installation"),
]

PRINT_VERSION = "import edge.lms; print(edge.lms.__version__)"


def _version_in(tree: Path) -> str:
    done = subprocess.run(
        [*as_in_the_image(tree.parent), sys.executable, "-c", PRINT_VERSION], cwd=tree, capture_output=True,
        text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(tree)}, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_image_reports_the_projects_version_without_package_metadata() -> None:
    want = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    with tempfile.TemporaryDirectory(prefix="ct-image-") as work:
        tree = image_tree(Path(work) / "opt-classtop")
        assert (tree / "pyproject.toml").is_file() and (tree / "edge" / "lms" / "__init__.py").is_file()
        assert _version_in(tree) == want
        # the same tree without the project file: nothing else knows the version there (the metadata is hidden)
        (tree / "pyproject.toml").unlink()
        assert _version_in(tree) == "0.0.0"
