"""The committed templates are what the generator makes now (chalice package of cloud/ + the data plane) and
pass cfn-lint. Regenerating runs the real ``chalice package`` (~10 s; it may fetch wheels from PyPI)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
FILES = ("template.yaml", "infra/aws/data-plane.yaml")


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generator's output now, as a real subprocess."""
    out = tmp_path_factory.mktemp("fresh")
    done = subprocess.run([sys.executable, "-m", "infra.aws.template", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)
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
