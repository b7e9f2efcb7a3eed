"""The live view: a small HTTP server (loopback by default; the LMS proxies it) serving MJPEG.

Every request must carry ``?token=<access token>``: a random token made when the agent starts, handed out
only in command responses (the ``url`` of ``cctv_start_streaming``, ``stream_server.token`` of
``cctv_get_config``), so a LAN neighbour cannot watch the cameras. Missing or wrong -> 403.

* ``GET /cameras/<id>/stream.mjpg`` — ``multipart/x-mixed-replace`` JPEG frames while the camera streams
  (``cctv_start_streaming``); ``cctv_stop_streaming`` ends open streams. 404 unknown camera, 409 not streaming,
  503 too many viewers.
* ``GET /cameras/<id>/snapshot.jpg`` — the newest frame as one JPEG (whenever the camera is capturing).
* ``GET /recordings/<camera_id>/<file>?t=<seconds>&speed=<x>`` — playback of a recording as MJPEG (browsers
  cannot play mp4v), from ``t`` seconds in (seeking), at ``speed`` times real time (0.25..16); each part
  carries ``X-Position: <seconds>``. The name is checked like ``cctv_delete_recording``'s: nothing outside
  the recordings folder can be read. 400 bad query, 404 no such recording, 503 too many playbacks.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from edge.agent.camera.cv import cv2
from edge.agent.camera.errors import CameraError

if TYPE_CHECKING:
    from edge.agent.camera.worker import CameraWorker

log = logging.getLogger(__name__)

BOUNDARY = "classtopframe"
MAX_VIEWERS = 4
MAX_PLAYBACKS = 4
_PATH = re.compile(r"^/cameras/([A-Za-z0-9][A-Za-z0-9_-]{0,31})/(stream\.mjpg|snapshot\.jpg)$")
_RECORDING = re.compile(r"^/recordings/([A-Za-z0-9][A-Za-z0-9_-]{0,31}/[A-Za-z0-9][A-Za-z0-9_.-]{0,127})$")


class MjpegServer:
    def __init__(
        self,
        host: str,
        port: int,
        lookup: Callable[[str], CameraWorker | None],
        recording: Callable[[str], Path] | None = None,
        token: str | None = None,
    ) -> None:
        self.token = token or secrets.token_urlsafe(24)
        self.lookup = lookup
        self.recording = recording
        self.playbacks = 0
        self.viewers: dict[str, int] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                log.debug("mjpeg %s: " + format, self.client_address[0], *args)

            def do_GET(self) -> None:
                server._serve(self)

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.httpd.server_address[:2]
        return str(host), int(port)

    def url(self, camera_id: str) -> str:
        host, port = self.address
        return f"http://{host}:{port}/cameras/{camera_id}/stream.mjpg?token={self.token}"

    def start(self) -> None:
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="mjpeg-server", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    # ------------------------------------------------------------ requests

    def _error(self, req: BaseHTTPRequestHandler, status: int, text: str) -> None:
        body = (text + "\n").encode()
        req.send_response(status)
        req.send_header("Content-Type", "text/plain; charset=utf-8")
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        req.wfile.write(body)

    def _serve(self, req: BaseHTTPRequestHandler) -> None:
        path, _, query = req.path.partition("?")
        given = parse_qs(query).get("token", [""])[-1]
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            self._error(req, 403, "a valid ?token= is required (see cctv_start_streaming / cctv_get_config)")
            return
        played = _RECORDING.match(path)
        if played is not None and self.recording is not None:
            self._serve_playback(req, played.group(1), query)
            return
        match = _PATH.match(path)
        if match is None:
            self._error(req, 404, "not found: use /cameras/<id>/stream.mjpg, /cameras/<id>/snapshot.jpg or "
                        "/recordings/<camera_id>/<file>")
            return
        camera_id, what = match.groups()
        worker = self.lookup(camera_id)
        if worker is None:
            self._error(req, 404, f"unknown camera {camera_id}")
            return
        if what == "snapshot.jpg":
            got = worker.jpeg(-1, timeout=2.0)
            if got is None:
                self._error(req, 503, f"camera {camera_id} has no frame yet")
                return
            req.send_response(200)
            req.send_header("Content-Type", "image/jpeg")
            req.send_header("Content-Length", str(len(got[1])))
            req.send_header("Cache-Control", "no-store")
            req.end_headers()
            req.wfile.write(got[1])
            return
        if not worker.streaming:
            self._error(req, 409, f"camera {camera_id} is not streaming (cctv_start_streaming)")
            return
        with self.lock:
            if self.viewers.get(camera_id, 0) >= MAX_VIEWERS:
                self._error(req, 503, f"camera {camera_id} already has {MAX_VIEWERS} viewers")
                return
            self.viewers[camera_id] = self.viewers.get(camera_id, 0) + 1
        try:
            self._stream(req, worker)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass
        finally:
            with self.lock:
                self.viewers[camera_id] -= 1
            req.close_connection = True

    def _stream(self, req: BaseHTTPRequestHandler, worker: CameraWorker) -> None:
        req.send_response(200)
        req.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        req.send_header("Cache-Control", "no-store")
        req.send_header("Connection", "close")
        req.end_headers()
        seq = -1
        while worker.streaming and not self.stopping.is_set() and not worker.stop_event.is_set():
            got = worker.jpeg(seq, timeout=1.0)
            if got is None:
                continue
            seq, jpeg = got
            req.wfile.write(
                f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
                + jpeg + b"\r\n"
            )
            req.wfile.flush()

    # ------------------------------------------------------------ playback

    def _serve_playback(self, req: BaseHTTPRequestHandler, name: str, query: str) -> None:
        assert self.recording is not None
        try:
            args = {k: float(v[-1]) for k, v in parse_qs(query, strict_parsing=False).items() if k in ("t", "speed")}
        except ValueError:
            self._error(req, 400, "t and speed must be numbers")
            return
        start, speed = args.get("t", 0.0), args.get("speed", 1.0)
        if not (0 <= start <= 86400 and 0.25 <= speed <= 16):
            self._error(req, 400, "t must be 0..86400 seconds and speed 0.25..16")
            return
        try:
            path = self.recording(name)
        except CameraError as exc:
            self._error(req, 404, exc.message)
            return
        with self.lock:
            if self.playbacks >= MAX_PLAYBACKS:
                self._error(req, 503, f"already {MAX_PLAYBACKS} playbacks")
                return
            self.playbacks += 1
        cap = cv2.VideoCapture(str(path))
        try:
            if not cap.isOpened():
                self._error(req, 404, f"recording {name} cannot be read")
                return
            self._play(req, cap, start, speed)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass
        finally:
            cap.release()
            with self.lock:
                self.playbacks -= 1
            req.close_connection = True

    def _play(self, req: BaseHTTPRequestHandler, cap: cv2.VideoCapture, start: float, speed: float) -> None:
        fps = cap.get(cv2.CAP_PROP_FPS) or 15.0
        if start > 0:
            cap.set(cv2.CAP_PROP_POS_MSEC, start * 1000)
        req.send_response(200)
        req.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        req.send_header("Cache-Control", "no-store")
        req.send_header("Connection", "close")
        req.end_headers()
        period, due = 1.0 / (fps * speed), time.monotonic()
        while not self.stopping.is_set():
            ok, frame = cap.read()
            if not ok:
                break
            position = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000  # of the frame just read
            ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 80])
            if not ok:
                continue
            jpeg = buf.tobytes()
            req.wfile.write(
                f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n"
                f"X-Position: {position:.3f}\r\n\r\n".encode() + jpeg + b"\r\n"
            )
            req.wfile.flush()
            due += period
            delay = due - time.monotonic()
            if delay > 0 and self.stopping.wait(delay):
                break
        req.wfile.write(f"--{BOUNDARY}--\r\n".encode())
