"""The committed templates are what the generator makes now (chalice package of cloud/ + the data plane) and
pass cfn-lint; the Lambda package holds wheels for the template's runtime, not for this interpreter.
Regenerating runs the real ``chalice package`` and pip (~10-30 s; it may fetch wheels from PyPI)."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
FILES = ("template.yaml", "infra/aws/data-plane.yaml")


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generator's output now, as a real subprocess."""
    out = tmp_path_factory.mktemp("fresh")
    command = [sys.executable, "-m", "infra.aws.template", "--out", str(out), "--zip-dir", str(out / "zip")]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    return out


def test_committed_templates_are_not_stale(fresh: Path) -> None:
    from infra.aws import template

    assert template.compare(fresh) == [], "stale: run `python -m infra.aws.template` and commit the result"


def test_cfn_lint_passes_on_both_templates() -> None:
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    done = subprocess.run([str(cfn_lint), *FILES], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_cfn_lint_catches_a_broken_template(tmp_path: Path) -> None:
    broken = (ROOT / "infra/aws/data-plane.yaml").read_text().replace("PAY_PER_REQUEST", "PAY_PER_REQUESTS", 1)
    (tmp_path / "broken.yaml").write_text(broken)
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    done = subprocess.run([str(cfn_lint), str(tmp_path / "broken.yaml")], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode != 0 and "PAY_PER_REQUESTS" in done.stdout


def test_the_comparison_reports_a_stale_or_missing_template(fresh: Path, tmp_path: Path) -> None:
    from infra.aws import template

    (tmp_path / "infra/aws").mkdir(parents=True)
    (tmp_path / "infra/aws/data-plane.yaml").write_text("# edited by hand\n")
    assert template.compare(fresh, tmp_path) == ["template.yaml", "infra/aws/data-plane.yaml"]
    (tmp_path / "template.yaml").write_text((fresh / "template.yaml").read_text())
    assert template.compare(fresh, tmp_path) == ["infra/aws/data-plane.yaml"]


def _wheel_tags(package: zipfile.ZipFile) -> dict[str, tuple[bool, list[str]]]:
    """dist-info name -> (pure Python?, its wheel tags), from each installed distribution's WHEEL file."""
    found = {}
    for name in package.namelist():
        if re.fullmatch(r"[^/]+\.dist-info/WHEEL", name):
            text = package.read(name).decode()
            pure = re.search(r"^Root-Is-Purelib: *true", text, re.MULTILINE | re.IGNORECASE) is not None
            found[name.split("/")[0]] = (pure, re.findall(r"^Tag: *(\S+)", text, re.MULTILINE))
    return found


def test_the_lambda_package_is_built_for_the_templates_runtime(fresh: Path) -> None:
    """Every function runs one runtime (the newest), and every compiled wheel in the zip is for it: CPython of
    that version (or the stable ABI of an older one), Linux on the functions' architecture."""
    template = yaml.safe_load((fresh / "template.yaml").read_text())
    functions = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::Serverless::Function"]
    runtimes = {f["Runtime"] for f in functions}
    architectures = {a for f in functions for a in f["Architectures"]}
    assert runtimes == {"python3.13"} and architectures == {"x86_64"}, (runtimes, architectures)
    version = "".join(runtimes.pop().removeprefix("python").split("."))  # "313"
    with zipfile.ZipFile(fresh / "zip" / "deployment.zip") as package:
        wheels = _wheel_tags(package)
        compiled = [n for n in package.namelist() if n.endswith(".so")]
    binary = {name: tags for name, (pure, tags) in wheels.items() if not pure}
    assert binary, "no compiled wheel in the package: nothing was checked"
    for name, tags in binary.items():
        for tag in tags:
            interpreter, abi, platform = tag.split("-")
            own = interpreter == abi == f"cp{version}"
            stable = abi == "abi3" and int(interpreter[2:]) <= int(version)
            assert own or stable, f"{name}: {tag} is not for python{version}"
            assert re.fullmatch(r"manylinux(2014|_2_\d+)_x86_64", platform), f"{name}: {tag} is not Linux x86_64"
    for path in compiled:  # the extension modules themselves
        vendored_library = ".libs/" in path  # a shared library a wheel bundles (auditwheel)
        assert vendored_library or path.endswith((f".cpython-{version}-x86_64-linux-gnu.so", ".abi3.so")), \
            f"{path} is not an extension module for python{version}"
