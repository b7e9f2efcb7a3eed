"""Administration entry point of the cloud plane: ``python cloud/manage.py --help`` (see ``chalicelib/cli.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
for _path in (str(_HERE), str(_HERE.parent)):  # chalicelib, and the repository root for ``shared``
    if _path not in sys.path:
        sys.path.insert(0, _path)

from chalicelib.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
