"""OpenCV (~30 MB of RSS) is loaded only by the camera part, and only when cameras are enabled."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def test_an_agent_without_cameras_never_imports_opencv() -> None:
    code = (
        "import sys, edge.agent.__main__, edge.agent.commands, edge.agent.config, edge.agent.camera.errors\n"
        "print(sorted(m for m in ('cv2', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_only_the_camera_package_imports_opencv() -> None:
    offenders = []
    for tier in ("edge", "shared", "cloud", "infra"):
        for path in (REPO / tier).rglob("*.py"):
            if "camera" in path.relative_to(REPO).parts[:3] or "vendor" in path.parts:
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            if "import cv2" in text or "from cv2" in text:
                offenders.append(str(path.relative_to(REPO)))
    assert offenders == []
