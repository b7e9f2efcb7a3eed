"""Generate the tenant templates: ``python -m infra.aws.template [--out DIR] [--check]``.

* ``infra/aws/data-plane.yaml``: the data plane (:mod:`infra.aws.data_plane`), deployable by moto too;
* ``template.yaml`` (repository root): ``chalice package`` of ``cloud/`` merged with :mod:`infra.aws.root`
  (nesting the data plane). Its ``CodeUri`` points at the ``deployment.zip`` of the build and its nested
  ``TemplateURL`` at ``infra/aws/data-plane.yaml``; the deploy tool uploads both and rewrites them.

Output is deterministic (sorted keys, no timestamps), so ``--check`` regenerates into a temporary directory
and compares: exit 1 and the names of the stale files if the committed templates are out of date.
Exit codes: 0 done, 1 stale or build failure (the message says why).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.aws import cloud_app, data_plane, failures, http_api, roles, root, yaml_io
from infra.aws.errors import BuildError, InfraError
from infra.aws.package import LAMBDA_RUNTIME, chalice_package

TEMPLATE_FILE = "template.yaml"
DATA_PLANE_FILE = root.DATA_PLANE_PATH
SERVERLESS_FUNCTION = "AWS::Serverless::Function"


@dataclass(frozen=True, slots=True)
class Build:
    template_path: Path
    data_plane_path: Path
    zip_path: Path | None


def check_packaged(template: dict[str, Any]) -> None:
    """Fail if Chalice's output does not hold the functions the merge template assumed, each running as its own
    role (Chalice creates none: ``manage_iam_role`` is off in cloud/.chalice/config.json) on the runtime the
    package was built for."""
    resources = template.get("Resources", {})
    for function in cloud_app.functions():
        resource = resources.get(function.logical_id, {})
        if resource.get("Type") != SERVERLESS_FUNCTION:
            raise BuildError(f"chalice package produced no function {function.logical_id} ({function.name}); "
                             "the merge template would create an incomplete resource")
        properties = resource.get("Properties", {})
        if properties.get("Role") != {"Fn::GetAtt": [roles.role_logical_id(function), "Arn"]}:
            raise BuildError(f"{function.logical_id} does not run as its own role {roles.role_logical_id(function)}")
        if properties.get("Runtime") != LAMBDA_RUNTIME:
            raise BuildError(f"{function.logical_id} runs {properties.get('Runtime')}, the package is for "
                             f"{LAMBDA_RUNTIME}")
    managed = [lid for lid, r in resources.items() if r.get("Type") == "AWS::IAM::Role"
               and lid not in {roles.role_logical_id(f) for f in cloud_app.functions()} | {failures.RULE_ERRORS_ROLE}]
    if managed:
        raise BuildError(f"chalice package created roles of its own ({', '.join(managed)}): set manage_iam_role to "
                         "false in cloud/.chalice/config.json")


def build(out_dir: Path, *, zip_dir: Path | None = None) -> Build:
    """Write ``template.yaml`` and ``infra/aws/data-plane.yaml`` under ``out_dir``.

    The Lambda package is kept in ``zip_dir`` when given, else discarded.
    """
    data_plane_path = out_dir / DATA_PLANE_FILE
    template_path = out_dir / TEMPLATE_FILE
    data_plane_text = yaml_io.dump(data_plane.data_plane_template())
    merge = root.merge_template()
    with tempfile.TemporaryDirectory(prefix="classtop-zip-") as tmp:
        package = chalice_package(merge, zip_dir or Path(tmp))
        http_api.check_rest_api(package.template)
        check_packaged(package.template)
        template_text = yaml_io.dump(package.template)
        zip_path = package.zip_path if zip_dir is not None else None
    data_plane_path.parent.mkdir(parents=True, exist_ok=True)
    data_plane_path.write_text(data_plane_text, encoding="utf-8")
    template_path.write_text(template_text, encoding="utf-8")
    return Build(template_path=template_path, data_plane_path=data_plane_path, zip_path=zip_path)


def compare(fresh_dir: Path, repo_dir: Path = cloud_app.REPO_DIR) -> list[str]:
    """The generated files under ``repo_dir`` that differ from (or are missing next to) those in ``fresh_dir``."""
    stale = []
    for name in (TEMPLATE_FILE, DATA_PLANE_FILE):
        committed = repo_dir / name
        if not committed.exists() or committed.read_text(encoding="utf-8") != (fresh_dir / name).read_text(
                encoding="utf-8"):
            stale.append(name)
    return stale


def stale_files(repo_dir: Path = cloud_app.REPO_DIR) -> list[str]:
    """Regenerate into a temporary directory; the committed files that differ (or are missing)."""
    with tempfile.TemporaryDirectory(prefix="classtop-template-") as tmp:
        build(Path(tmp))
        return compare(Path(tmp), repo_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.aws.template", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=cloud_app.REPO_DIR,
                        help="directory to write template.yaml and infra/aws/data-plane.yaml under "
                             "(default: the repository)")
    parser.add_argument("--zip-dir", type=Path, help="keep the Lambda package (deployment.zip) here")
    parser.add_argument("--check", action="store_true",
                        help="do not write: exit 1 if the committed templates are stale")
    args = parser.parse_args(argv)
    try:
        if args.check:
            stale = stale_files()
            if stale:
                print(f"stale: {', '.join(stale)} - run: python -m infra.aws.template", file=sys.stderr)
                return 1
            print("templates are up to date")
            return 0
        result = build(args.out, zip_dir=args.zip_dir)
    except InfraError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:  # e.g. the cloud app fails to import: say so in one line
        print(f"error: cannot build the templates: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {result.template_path} and {result.data_plane_path}")
    if result.zip_path is not None:
        print(f"Lambda package: {result.zip_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
