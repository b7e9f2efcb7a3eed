"""Imports OpenCV quietly (``OPENCV_LOG_LEVEL=ERROR`` unless set: probing absent devices warns otherwise)."""

from __future__ import annotations

import os

os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")

import cv2
import numpy as np

Frame = np.ndarray

__all__ = ["Frame", "cv2", "np"]
