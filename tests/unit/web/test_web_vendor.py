"""The vendored browser libraries (web/vendor) are exactly the files MANIFEST.json lists, with their licences,
and the pages load nothing else from there."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

WEB = Path(__file__).resolve().parents[3] / "web"
VENDOR = WEB / "vendor"
MANIFEST = json.loads((VENDOR / "MANIFEST.json").read_text())
#: files of web/vendor that are not vendored libraries
OWN = {"MANIFEST.json", "vendor.py"}


def test_every_file_matches_its_manifest_sha256() -> None:
    assert MANIFEST, "the manifest lists no package"
    for package in MANIFEST:
        assert package["source"] == (f"https://registry.npmjs.org/{package['name']}/-/"
                                     f"{package['name']}-{package['version']}.tgz")
        assert package["integrity"].startswith("sha512-")
        for path, digest in package["files"].items():
            data = (VENDOR / path).read_bytes()
            assert hashlib.sha256(data).hexdigest() == digest, f"{path} differs from the manifest"


def test_every_package_keeps_its_licence() -> None:
    for package in MANIFEST:
        folder = f"{package['name']}-{package['version']}"
        assert f"{folder}/LICENSE" in package["files"], f"{folder} has no LICENSE in the manifest"
        assert package["license"], folder


def test_nothing_unlisted_is_vendored() -> None:
    listed = {path for package in MANIFEST for path in package["files"]}
    present = {p.relative_to(VENDOR).as_posix() for p in VENDOR.rglob("*") if p.is_file() and p.name not in OWN
               and "__pycache__" not in p.parts}
    assert present == listed


def test_the_pages_reference_only_vendored_files() -> None:
    listed = {path for package in MANIFEST for path in package["files"]}
    referenced: set[str] = set()
    for source in [*WEB.rglob("*.html"), *WEB.rglob("*.js")]:
        if VENDOR in source.parents:
            continue
        referenced |= set(re.findall(r"vendor/([\w.@-]+/[\w.-]+)", source.read_text()))
    assert referenced, "no page loads a vendored library"
    assert referenced <= listed, referenced - listed


def test_no_page_loads_anything_from_another_origin() -> None:
    for source in [*WEB.rglob("*.html"), *WEB.rglob("*.js"), *WEB.rglob("*.css")]:
        if VENDOR in source.parents:
            continue
        text = source.read_text()
        assert not re.search(r"""(src|href)=["']https?://""", text), source
        assert not re.search(r"""from\s+["']https?://""", text), source
        assert not re.search(r"""import\(\s*["']https?://""", text), source


def test_the_documented_csp_hash_is_the_import_maps() -> None:
    """The import map is the page's only inline script: a CSP with script-src 'self' allows it by this hash."""
    import base64

    page = (WEB / "dashboard" / "index.html").read_text()
    inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", page, re.S)
    assert len(inline) == 1 and '"imports"' in inline[0]
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    doc = (WEB.parent / "docs" / "dashboard.md").read_text()
    assert f"'sha256-{digest}'" in doc, f"docs/dashboard.md should give 'sha256-{digest}'"


def test_no_html_injection_sinks() -> None:
    """Everything from the API is rendered by Preact as text: no innerHTML, no eval."""
    for source in [*WEB.joinpath("common").rglob("*.js"), *WEB.joinpath("dashboard").rglob("*.js"),
                   *WEB.joinpath("console").rglob("*.js")]:
        text = source.read_text()
        for sink in ("innerHTML", "outerHTML", "dangerouslySetInnerHTML", "insertAdjacentHTML", "document.write",
                     "eval(", "new Function"):
            assert sink not in text, f"{source.name}: {sink}"
