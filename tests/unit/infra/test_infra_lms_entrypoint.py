"""The LMS container's entrypoint, run for real: the lms.toml it writes passes the LMS's own validation, and
enrolment runs against a local HTTP server standing in for the cloud's ``POST /api/lms/register``."""

from __future__ import annotations

import json
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from edge.lms.config import load_config
from infra.lms.entrypoint import CERT_FILE, KEY_FILE, main

BASE_ENV = {"CLASSTOP_TENANT": "district-a", "CLASSTOP_SITE_ID": "school-1", "CLASSTOP_LMS_BROKER_PASSWORD": "pw-1",
            "CLASSTOP_LMS_DYNSEC_PASSWORD": "pw-2"}


class CloudStandIn:
    """Answers the register call with a scripted status and body; records the requests."""

    def __init__(self) -> None:
        self.status = 200
        self.body: dict[str, Any] = {}
        self.requests: list[tuple[str, dict[str, str], dict[str, Any]]] = []


@pytest.fixture
def cloud() -> Iterator[tuple[CloudStandIn, str]]:
    state = CloudStandIn()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            state.requests.append((self.path, dict(self.headers), json.loads(self.rfile.read(length))))
            payload = json.dumps(state.body).encode()
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/api"
    finally:
        server.shutdown()
        server.server_close()


def registered(site: str = "school-1") -> dict[str, Any]:
    return {"success": True, "data": {
        "lms_id": site, "site_id": site, "api_key": "ctl_key", "approval": "approved",
        "thing_name": f"ct-district-a-{site}", "certificate_id": "c1", "certificate_arn": "arn:aws:iot:x:1:cert/c1",
        "certificate_pem": "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n",
        "private_key": "-----BEGIN RSA PRIVATE KEY-----\ny\n-----END RSA PRIVATE KEY-----\n"}}


def test_site_only_config_passes_the_lms_validation(tmp_path: Path) -> None:
    assert main(["--dry-run"], {**BASE_ENV, "CLASSTOP_DATA_DIR": str(tmp_path)}) == 0
    cfg = load_config(tmp_path / "lms.toml", env=BASE_ENV)
    assert (cfg.tenant, cfg.site_id, cfg.cloud) == ("district-a", "school-1", None)
    assert cfg.db_path == tmp_path / "lms.db" and cfg.site_broker.host == "mosquitto"
    # TLS on the LAN: HTTPS on 8000, the broker's TLS port (site CA), agents told the same
    assert cfg.http_tls and cfg.http_host == "0.0.0.0" and cfg.site_tls.dir == tmp_path / "site-ca"
    assert cfg.site_broker.port == 8883 and cfg.site_broker.tls is not None
    assert cfg.site_broker.advertised() == ("mosquitto", 8883, True)
    assert cfg.site_tls.broker_dir == tmp_path / "broker-tls"
    assert stat.S_IMODE((tmp_path / "lms.toml").stat().st_mode) == 0o600


def test_enrols_once_and_writes_a_config_with_the_certificate(cloud: tuple[CloudStandIn, str], tmp_path: Path) -> None:
    state, api = cloud
    state.body = registered()
    env = {**BASE_ENV, "CLASSTOP_DATA_DIR": str(tmp_path), "CLASSTOP_CLOUD_API": api,
           "CLASSTOP_IOT_ENDPOINT": "abc-ats.iot.eu-west-1.amazonaws.com", "CLASSTOP_ENROLMENT_TOKEN": "cte_secret",
           "CLASSTOP_LMS_ADVERTISE_HOST": "lms.school-1.lan"}
    assert main(["--dry-run"], env) == 0
    path, headers, body = state.requests[0]
    assert path == "/api/api/lms/register"  # API Gateway stage /api + the route /api/lms/register
    assert headers["Authorization"] == "Bearer cte_secret"
    assert body["lms_uuid"] == "school-1" and body["host"] == "lms.school-1.lan" and body["port"] == 8000
    certs = tmp_path / "certs"
    assert (certs / CERT_FILE).read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert stat.S_IMODE((certs / KEY_FILE).stat().st_mode) == 0o600
    cfg = load_config(tmp_path / "lms.toml", env=BASE_ENV)
    assert cfg.cloud is not None and cfg.cloud.host == "abc-ats.iot.eu-west-1.amazonaws.com"
    assert cfg.cloud.tls is not None and cfg.cloud.tls.cert_file == certs / CERT_FILE
    # a restart does not enrol again (the token is spent)
    assert main(["--dry-run"], {**env, "CLASSTOP_ENROLMENT_TOKEN": ""}) == 0
    assert len(state.requests) == 1


def test_a_refused_enrolment_is_a_clear_error_and_writes_nothing(
        cloud: tuple[CloudStandIn, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state, api = cloud
    state.status, state.body = 401, {"success": False, "error": "unknown, used or expired enrolment token"}
    env = {**BASE_ENV, "CLASSTOP_DATA_DIR": str(tmp_path), "CLASSTOP_CLOUD_API": api,
           "CLASSTOP_IOT_ENDPOINT": "abc-ats.iot.eu-west-1.amazonaws.com", "CLASSTOP_ENROLMENT_TOKEN": "cte_old"}
    assert main(["--dry-run"], env) == 1
    err = capsys.readouterr().err
    assert "enrolment refused" in err and "HTTP 401" in err and "expired enrolment token" in err
    assert list(tmp_path.iterdir()) == []
    # a token bound to another site
    state.status, state.body = 200, registered("school-9")
    assert main(["--dry-run"], env) == 2
    assert "the token is for site 'school-9'" in capsys.readouterr().err
    assert not (tmp_path / "certs" / CERT_FILE).exists()


@pytest.mark.parametrize(("change", "message"), [
    ({"CLASSTOP_TENANT": ""}, "CLASSTOP_TENANT is not set"),
    ({"CLASSTOP_SITE_ID": "bad/site"}, "invalid site id"),
    ({"CLASSTOP_IOT_ENDPOINT": "x-ats.iot", "CLASSTOP_CLOUD_API": "", "CLASSTOP_ENROLMENT_TOKEN": "t"},
     "CLASSTOP_CLOUD_API is not set"),
    ({"CLASSTOP_IOT_ENDPOINT": "x-ats.iot", "CLASSTOP_CLOUD_API": "https://api", "CLASSTOP_ENROLMENT_TOKEN": ""},
     "CLASSTOP_ENROLMENT_TOKEN is not set"),
])
def test_missing_or_invalid_settings_exit_2(change: dict[str, str], message: str, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--dry-run"], {**BASE_ENV, "CLASSTOP_DATA_DIR": str(tmp_path), **change}) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "lms.toml").exists()
