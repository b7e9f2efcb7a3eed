"""Download the dashboard's pinned browser libraries from the npm registry and write ``MANIFEST.json``.

Run it from the repository root after changing a version in :data:`PACKAGES` (see docs/dashboard.md)::

    python web/vendor/vendor.py

Each package's tarball is fetched from ``registry.npmjs.org``, checked against the registry's ``sha512`` integrity,
and only the files listed here (the ES module builds and the licence) are kept, in ``web/vendor/<name>-<version>/``.
The manifest records, for each kept file, its source URL and SHA-256; ``tests/unit/web/test_vendor.py`` checks the
files against it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import sys
import tarfile
import urllib.request
from pathlib import Path

VENDOR = Path(__file__).resolve().parent
REGISTRY = "https://registry.npmjs.org"

#: name -> (version, files kept: path in the tarball's ``package/`` -> path under the vendor directory)
PACKAGES: dict[str, tuple[str, dict[str, str]]] = {
    "preact": ("10.29.8", {
        "dist/preact.module.js": "preact.module.js",
        "hooks/dist/hooks.module.js": "hooks.module.js",
        "LICENSE": "LICENSE",
    }),
    "htm": ("3.1.1", {"dist/htm.module.js": "htm.module.js", "LICENSE": "LICENSE"}),
    "uplot": ("1.6.32", {"dist/uPlot.esm.js": "uPlot.esm.js", "dist/uPlot.min.css": "uPlot.min.css",
                         "LICENSE": "LICENSE"}),
}


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as answer:
        data: bytes = answer.read()
    return data


def fetch(name: str, version: str, files: dict[str, str]) -> dict[str, object]:
    meta = json.loads(_get(f"{REGISTRY}/{name}/{version}"))
    url = f"{REGISTRY}/{name}/-/{name}-{version}.tgz"
    tarball = _get(url)
    algo, _, expected = str(meta["dist"]["integrity"]).partition("-")
    if algo != "sha512" or base64.b64encode(hashlib.sha512(tarball).digest()).decode() != expected:
        raise SystemExit(f"{name}-{version}: the tarball does not match the registry's integrity")
    target = VENDOR / f"{name}-{version}"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    kept: dict[str, str] = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        for source, dest in files.items():
            member = tar.extractfile(f"package/{source}")
            if member is None:
                raise SystemExit(f"{name}-{version}: {source} is not in the tarball")
            data = member.read()
            (target / dest).write_bytes(data)
            kept[f"{target.name}/{dest}"] = hashlib.sha256(data).hexdigest()
    return {"name": name, "version": version, "source": url, "integrity": meta["dist"]["integrity"],
            "license": meta.get("license", ""), "files": kept}


def main() -> int:
    manifest = [fetch(name, version, files) for name, (version, files) in PACKAGES.items()]
    (VENDOR / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {VENDOR / 'MANIFEST.json'}: {', '.join(str(m['name']) + '-' + str(m['version']) for m in manifest)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
