"""CPU per camera recording 720p at 15 fps, beside a bare OpenCV encoding loop, in one run.

Three phases of ``--seconds`` each, measured as process CPU (user + system) / wall time, in % of one core:

1. **source only** — the synthetic 1280x720 test pattern at 15 fps, frames thrown away (the cost every
   variant pays to have frames at all);
2. **bare OpenCV** — the same frames, paced the same, written by a plain ``cv2.VideoWriter`` loop (mp4v);
3. **agent camera** — the agent's :class:`CameraManager` with one camera on the same source, recording
   (mp4v, 10 s segments) with its health checks, watchdog and housekeeping running.

Prints each figure and the ratio agent / bare. Goal (issue 6): under 15 % of one core per camera.
Usage: ``python bench/camera.py [--seconds 20] [--codec mp4v|MJPG]``.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._results import Figure, write_results
from edge.agent.camera.cv import cv2
from edge.agent.camera.manager import CameraManager
from edge.agent.camera.sources import SyntheticSource
from edge.agent.config import CameraSettings
from shared.cctv import CameraConfig

WIDTH, HEIGHT, FPS = 1280, 720, 15.0


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(run: Callable[[float], int], seconds: float) -> tuple[float, int]:
    """(% of one core, frames) while ``run(seconds)`` runs."""
    c0, t0 = cpu_s(), time.monotonic()
    frames = run(seconds)
    return 100 * (cpu_s() - c0) / (time.monotonic() - t0), frames


def camera_config(codec: str) -> CameraConfig:
    return CameraConfig(camera_id="bench", source="synthetic:moving", width=WIDTH, height=HEIGHT, fps=FPS,
                        codec=codec, segment_s=10, record=True)


def source_only(seconds: float, codec: str) -> int:
    source = SyntheticSource(camera_config(codec), threading.Event())
    end, n = time.monotonic() + seconds, 0
    while time.monotonic() < end:
        if source.read() is not None:
            n += 1
    return n


def bare_loop(seconds: float, codec: str, out: Path) -> int:
    source = SyntheticSource(camera_config(codec), threading.Event())
    suffix = ".mp4" if codec == "mp4v" else ".avi"
    writer = cv2.VideoWriter(str(out / f"bare{suffix}"), cv2.VideoWriter.fourcc(*codec), FPS, (WIDTH, HEIGHT))
    if not writer.isOpened():
        raise SystemExit(f"cannot open a {codec} writer")
    end, n = time.monotonic() + seconds, 0
    while time.monotonic() < end:
        frame = source.read()
        if frame is not None:
            writer.write(frame)
            n += 1
    writer.release()
    return n


def agent_camera(seconds: float, codec: str, state_dir: Path) -> int:
    settings = CameraSettings(enabled=True, stream_port=0, disk_warn_free_mb=0, disk_reserve_mb=0)
    manager = CameraManager(settings, state_dir, lambda _event: None)
    manager.start()
    try:
        manager.add_camera(camera_config(codec))
        time.sleep(seconds)
        return int(manager.workers["bench"].state_data()["recorded_frames"])
    finally:
        manager.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--codec", choices=["mp4v", "MJPG"], default="mp4v")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ct-bench-camera-") as tmp:
        work = Path(tmp)
        print(f"{WIDTH}x{HEIGHT} at {FPS:g} fps, codec {args.codec}, {args.seconds:g} s per phase "
              f"(OpenCV {cv2.__version__})")
        src, n_src = measure(lambda s: source_only(s, args.codec), args.seconds)
        print(f"  source only         : {src:5.1f} % of one core  ({n_src} frames)")
        bare, n_bare = measure(lambda s: bare_loop(s, args.codec, work), args.seconds)
        print(f"  bare OpenCV encoding: {bare:5.1f} % of one core  ({n_bare} frames)")
        agent, n_agent = measure(lambda s: agent_camera(s, args.codec, work / "state"), args.seconds)
        print(f"  agent camera        : {agent:5.1f} % of one core  ({n_agent} frames recorded)")
        print(f"  ratio agent / bare  : {agent / bare:.2f}   (goal: agent under 15 % of one core per camera: "
              f"{'met' if agent < 15 else 'NOT met'})")
        write_results("camera", [Figure("agent camera CPU", agent, "% of a core", bare, "bare OpenCV encoding",
                                        max_value=15.0)], params=vars(args))


if __name__ == "__main__":
    main()
