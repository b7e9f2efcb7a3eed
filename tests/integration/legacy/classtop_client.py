"""A stand-in ClassTop desktop client speaking exactly docs/classtop.md's WebSocket contract, run as its own process.

``python classtop_client.py --url http://127.0.0.1:PORT --uuid UUID [--heartbeat-s 30] [--cafile ca.pem]``

It connects to ``{url as ws/wss}/ws/{uuid}`` (no auth, no subprotocol, protocol pings every 20 s with a 10 s
timeout), sends ``state_update`` with all its settings first, a heartbeat (monotonic timestamp) every
``--heartbeat-s``, runs commands one at a time (settings, ``refresh_state``, ``camera_*``; anything else is
``Unknown command: <name>``), sends ``camera_frame`` frames while a preview runs, and reconnects after a
fixed wait (5 s, or ``--reconnect-s``) forever. ``--silent`` never answers commands. It prints one line per
connection (``connected N``) on stdout.
"""

from __future__ import annotations

import argparse
import base64
import json
import ssl
import sys
import threading
import time
from typing import Any

from websockets.exceptions import WebSocketException
from websockets.sync.client import connect
from websockets.sync.connection import Connection

#: A 1x1 JPEG is not needed: any bytes stand for a frame.
FRAME = base64.b64encode(b"\xff\xd8\xff\xe0fake-jpeg\xff\xd9").decode()


class Client:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.settings: dict[str, str] = {
            "client_uuid": args.uuid, "server_url": args.url, "client_name": "Room 101", "sync_enabled": "false",
            "sync_interval": "300", "theme_mode": "light", "font_size": "14", "camera_enabled": "true",
        }  # fmt: skip
        self.preview: threading.Event | None = None
        self.recording = False

    def url(self) -> str:
        base = self.args.url.rstrip("/")
        base = "wss://" + base[len("https://"):] if base.startswith("https://") else "ws://" + base[len("http://"):]
        return f"{base}/ws/{self.args.uuid}"

    def run(self) -> None:
        count = 0
        ctx = None
        if self.args.url.startswith("https://"):
            ctx = ssl.create_default_context(cafile=self.args.cafile)
        while True:
            try:
                with connect(self.url(), ssl=ctx, ping_interval=20, ping_timeout=10, max_size=None) as ws:
                    count += 1
                    print(f"connected {count}", flush=True)
                    self.session(ws)
            except (OSError, WebSocketException) as exc:
                print(f"disconnected: {exc!r}", flush=True)
            if self.preview is not None:
                self.preview.set()
                self.preview = None
            time.sleep(self.args.reconnect_s)

    def session(self, ws: Connection) -> None:
        self.send_state(ws)
        stop = threading.Event()
        beat = threading.Thread(target=self.heartbeats, args=(ws, stop), daemon=True)
        beat.start()
        try:
            for raw in ws:
                msg = json.loads(raw)
                if msg.get("type") != "command" or self.args.silent:
                    continue
                ws.send(json.dumps(self.execute(ws, msg)))
        finally:
            stop.set()

    def send_state(self, ws: Connection) -> None:
        ws.send(json.dumps({"type": "state_update", "data": {"settings": dict(self.settings)}}))

    def heartbeats(self, ws: Connection, stop: threading.Event) -> None:
        while not stop.wait(self.args.heartbeat_s):
            try:
                ws.send(json.dumps({"type": "heartbeat", "timestamp": time.monotonic()}))
            except (OSError, WebSocketException):
                return

    def execute(self, ws: Connection, msg: dict[str, Any]) -> dict[str, Any]:
        rid, command, params = msg.get("request_id"), msg.get("command"), msg.get("params") or {}
        try:
            data = self.run_command(ws, str(command), params)
        except Exception as exc:
            return {"type": "response", "request_id": rid, "success": False, "error": str(exc)}
        return {"type": "response", "request_id": rid, "success": True, "data": data}

    def run_command(self, ws: Connection, command: str, p: dict[str, Any]) -> Any:
        if command == "get_all_settings":
            return dict(self.settings)
        if command == "get_setting":
            return self.settings.get(p["key"])
        if command == "set_setting":
            self.settings[p["key"]] = str(p["value"])
            return {"success": True}
        if command == "update_settings_batch":
            self.settings.update({k: str(v) for k, v in p["settings"].items()})
            return {"success": True}
        if command == "refresh_state":
            self.send_state(ws)
            return {"success": True}
        if command == "camera_initialize":
            return {"success": True}
        if command == "camera_get_cameras":
            return {"cameras": [{"index": 0, "name": "Integrated Camera", "width": 1280, "height": 720}]}
        if command == "camera_get_encoders":
            return {"encoders": ["x264"]}
        if command == "camera_start_recording":
            self.recording = True
            return {"success": True, "camera_index": p.get("camera_index", 0), "filename": p.get("filename")}
        if command == "camera_stop_recording":
            self.recording = False
            return {"success": True}
        if command == "camera_get_status":
            return {"recording": self.recording, "previewing": self.preview is not None}
        if command in ("camera_start_streaming", "camera_stop_streaming"):
            return {"success": True}
        if command == "camera_start_preview":
            if self.preview is None:
                self.preview = threading.Event()
                threading.Thread(target=self.frames, args=(ws, self.preview, int(p.get("camera_index", 0)),
                                                           float(p.get("fps", 5))), daemon=True).start()  # fmt: skip
            return {"success": True}
        if command == "camera_stop_preview":
            if self.preview is not None:
                self.preview.set()
                self.preview = None
            return {"success": True}
        raise ValueError(f"Unknown command: {command}")

    def frames(self, ws: Connection, stop: threading.Event, index: int, fps: float) -> None:
        while not stop.wait(1.0 / max(fps, 0.1)):
            try:
                ws.send(json.dumps({"type": "camera_frame", "camera_index": index, "frame": FRAME}))
            except (OSError, WebSocketException):
                return


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the client's server_url")
    parser.add_argument("--uuid", required=True)
    parser.add_argument("--heartbeat-s", type=float, default=30.0)
    parser.add_argument("--reconnect-s", type=float, default=5.0)
    parser.add_argument("--cafile", default=None, help="CA bundle to trust (https)")
    parser.add_argument("--silent", action="store_true", help="never answer commands")
    try:
        Client(parser.parse_args()).run()
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
