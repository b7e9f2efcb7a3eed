"""``chalice package`` of the cloud app, with ``shared/`` and the dependencies vendored and the project's merge
template.

The Chalice project is copied to a temporary directory first (``cloud/`` itself is never written to, so a
build does not race with other work in the tree); ``shared/`` goes into the copy's ``vendor/shared``, which
Chalice puts at the root of the Lambda package.

Chalice would build the dependencies for the interpreter running it (and name that interpreter's runtime in the
template). The functions run :data:`LAMBDA_RUNTIME` instead, which this machine need not have, so the copy's
``requirements.txt`` is installed into ``vendor/`` by pip for that runtime's interpreter and Linux platform -
binary wheels only (``--python-version 3.13 --platform manylinux2014_x86_64 --only-binary=:all:``, as AWS
documents for building a package on another system) - and Chalice gets an empty requirements file. The
merge template sets ``Runtime`` of every function to :data:`LAMBDA_RUNTIME`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.aws import cloud_app, yaml_io
from infra.aws.errors import BuildError

#: what `chalice package` writes
SAM_FILE = "sam.yaml"
ZIP_FILE = "deployment.zip"
PACKAGE_TIMEOUT_S = 600
#: the newest Python runtime of AWS Lambda: every function runs it, the package's wheels are built for it
LAMBDA_RUNTIME = "python3.13"
#: Chalice's default architecture (the template's ``Architectures``) and the wheel platform that runs on it
LAMBDA_ARCHITECTURE = "x86_64"
WHEEL_PLATFORM = "manylinux2014_x86_64"


@dataclass(frozen=True, slots=True)
class Package:
    template: dict[str, Any]  # Chalice's SAM template merged with ours
    zip_path: Path  # the Lambda deployment package


def _chalice_executable() -> str:
    candidate = Path(sys.executable).with_name("chalice")
    if candidate.exists():
        return str(candidate)
    found = shutil.which("chalice")
    if found is None:
        raise BuildError("chalice is not installed: pip install -e '.[cloud]' (or '.[dev]')")
    return found


def stage_project(work_dir: Path) -> Path:
    """Copy ``cloud/`` to ``work_dir/cloud`` with ``shared/`` and the requirements vendored; return the copy."""
    junk = shutil.ignore_patterns("__pycache__", "*.pyc", "vendor", "deployments", ".pytest_cache")
    project = work_dir / "cloud"
    shutil.copytree(cloud_app.CLOUD_DIR, project, ignore=junk)
    shutil.copytree(cloud_app.SHARED_DIR, project / "vendor" / "shared", ignore=junk)
    vendor_requirements(project)
    return project


def pip_command(requirements: Path, target: Path) -> list[str]:
    """``pip install`` of ``requirements`` into ``target`` for :data:`LAMBDA_RUNTIME` on Linux."""
    version = LAMBDA_RUNTIME.removeprefix("python")
    return [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
        "--target", str(target), "--implementation", "cp", "--python-version", version,
        "--platform", WHEEL_PLATFORM, "--only-binary=:all:", "--requirement", str(requirements),
    ]


def vendor_requirements(project: Path) -> None:
    """Install the project's ``requirements.txt`` into its ``vendor/`` for the Lambda runtime, then empty it
    (Chalice would build them again for this interpreter)."""
    requirements = project / "requirements.txt"
    if not requirements.exists():
        return
    target = project / "vendor"
    try:
        done = subprocess.run(pip_command(requirements, target), capture_output=True, text=True,
                              timeout=PACKAGE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise BuildError(f"pip did not install the requirements in {PACKAGE_TIMEOUT_S} s") from None
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise BuildError(f"pip could not install cloud/requirements.txt for {LAMBDA_RUNTIME} on {WHEEL_PLATFORM} "
                         f"(binary wheels only; exit {done.returncode}):\n{tail}")
    shutil.rmtree(target / "bin", ignore_errors=True)  # console scripts: not importable, not needed
    requirements.write_text(f"# installed into vendor/ for {LAMBDA_RUNTIME} by infra/aws/package.py\n",
                            encoding="utf-8")


def chalice_package(merge: dict[str, Any], out_dir: Path, *, stage: str = cloud_app.CHALICE_STAGE) -> Package:
    """Run ``chalice package`` with ``merge`` as ``--merge-template``; the zip ends up in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="classtop-package-") as tmp:
        work = Path(tmp)
        project = stage_project(work)
        merge_path = work / "extras.yaml"
        merge_path.write_text(yaml_io.dump(merge), encoding="utf-8")
        output = work / "out"
        env = dict(os.environ)
        env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        env.pop("PYTHONPATH", None)  # the app must import from its own package (vendor/ included)
        command = [
            _chalice_executable(), "--project-dir", str(project), "package", "--stage", stage,
            "--pkg-format", "cloudformation", "--template-format", "yaml",
            "--merge-template", str(merge_path), str(output),
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=project,
                                  timeout=PACKAGE_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise BuildError(f"chalice package did not finish in {PACKAGE_TIMEOUT_S} s") from None
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
            raise BuildError(f"chalice package failed (exit {done.returncode}):\n{tail}")
        template = yaml_io.load(output / SAM_FILE)
        zip_path = out_dir / ZIP_FILE
        shutil.move(str(output / ZIP_FILE), zip_path)
    return Package(template=template, zip_path=zip_path)
