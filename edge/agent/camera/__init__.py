"""The agent's CCTV part: the only package that imports OpenCV (``cv2``, ~30 MB of RSS).

Import :mod:`edge.agent.camera.manager` only when ``[camera] enabled = true``; an agent without cameras never
loads OpenCV. See docs/cctv.md.
"""

from __future__ import annotations
