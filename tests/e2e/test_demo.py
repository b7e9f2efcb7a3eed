"""``make demo``'s program: it comes up with TLS on site (the LMS on HTTPS, the broker on MQTT over TLS, both
certified by the site CA whose fingerprint it prints), the curls it prints work, Ctrl-C stops all."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from infra.local.ports import free_port

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_demo_prints_a_working_curl_and_stops_on_ctrl_c() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="ct-demo-"))
    ports = {"--api-port": free_port(), "--lms-port": free_port(), "--broker-port": free_port()}
    argv = [sys.executable, "-m", "infra.local", "--workdir", str(workdir), "--agents", "2"]
    for flag, port in ports.items():
        argv += [flag, str(port)]
    proc = subprocess.Popen(
        argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
            if "Ctrl-C stops everything" in line:
                break
        text = "\n".join(lines)
        assert "Ctrl-C stops everything" in text, text
        # the dashboard's URL and its demo admin, who can sign in with what the banner shows
        admin_line = next(line.split() for line in lines if line.strip().startswith("demo admin"))
        email, password = admin_line[2], admin_line[4]
        assert f"http://127.0.0.1:{ports['--api-port']}/" in text
        sign_in = urllib.request.Request(f"http://127.0.0.1:{ports['--api-port']}/api/auth/sign-in", method="POST",
                                         data=json.dumps({"email": email, "password": password}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(sign_in, timeout=10) as answer:
            assert set(json.loads(answer.read())["data"]) >= {"id_token", "access_token", "refresh_token"}
        curl = next(
            line.strip() for line in lines if line.strip().startswith("curl -s -X POST") and "/api/commands" in line
        )
        out = subprocess.run(shlex.split(curl), capture_output=True, text=True, timeout=60, check=True).stdout
        body = json.loads(out)
        result = body["data"]["results"]["pc-01"]
        assert body["data"]["status"] == "succeeded", body
        assert result["data"]["exit_code"] == 0
        assert "Linux" in result["data"]["stdout"]
        # the settings curl: desired goes into the shadow, the LMS applies it and reports it
        put = next(line.strip() for line in lines if line.strip().startswith("curl -s -X PUT") and "/settings" in line)
        read = next(line.strip() for line in lines if line.strip().startswith("curl -s '") and "/settings" in line)
        out = subprocess.run(shlex.split(put), capture_output=True, text=True, timeout=60, check=True).stdout
        assert json.loads(out)["data"]["desired"] == {"theme_mode": "dark"}, out
        deadline = time.monotonic() + 30
        view: dict[str, Any] = {}
        while time.monotonic() < deadline:
            view = json.loads(subprocess.run(shlex.split(read), capture_output=True, text=True, timeout=60).stdout)
            if view.get("data", {}).get("pending") == {}:
                break
            time.sleep(0.2)
        assert view["data"]["reported"]["theme_mode"] == "dark", view
        # on site: the printed LMS curl goes over HTTPS, verified against the site CA it names
        on_site = next(line.strip() for line in lines if line.strip().startswith("curl -s --cacert"))
        assert "https://" in on_site
        out = subprocess.run(shlex.split(on_site), capture_output=True, text=True, timeout=60, check=True).stdout
        assert json.loads(out)["success"] is True, out
        # the fingerprint it prints is the CA's (what openssl says), and agents pin it
        printed = next(line.split()[-1] for line in lines if line.strip().startswith("site CA"))
        ca_file = Path(shlex.split(on_site)[3])
        by_openssl = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", str(ca_file)],
                                    capture_output=True, text=True, check=True).stdout  # fmt: skip
        assert printed == "sha256:" + by_openssl.strip().split("=", 1)[1].replace(":", "").lower()
        assert f'ca_hash = "{printed}"' in text
        assert "mqtts://" in text
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
        for port in ports.values():
            assert _port_free(port), f"port {port} still open after Ctrl-C"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)
