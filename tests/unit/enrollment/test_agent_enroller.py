"""The agent's side of enrolment (``edge.agent.enrollment``) against a real local HTTP server."""

from __future__ import annotations

import json
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from edge.agent.enrollment import (
    TOKEN_ENV,
    Credentials,
    Enroller,
    EnrollmentError,
    EnrollSettings,
    RefusalWatch,
    load_credentials,
    save_credentials,
)
from infra.local.mosquitto import free_port
from shared.mqtt import MqttSettings


class FakeLms:
    """A real HTTP server answering ``POST /api/enroll`` with whatever the test sets."""

    def __init__(self) -> None:
        self.status = 200
        self.body: Any = None
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                request = json.loads(self.rfile.read(length))
                outer.requests.append({"path": self.path, **request})
                body = outer.body if outer.body is not None else {
                    "success": True,
                    "data": {"agent_id": request["agent_id"], "mqtt": {
                        "host": "10.0.0.5", "port": 1884, "username": request["agent_id"],
                        "password": f"pw-{len(outer.requests)}"}},
                }
                raw = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *_args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def lms() -> Iterator[FakeLms]:
    server = FakeLms()
    yield server
    server.close()


def _enroller(url: str, state: Path, env: dict[str, str] | None = None, **extra: Any) -> Enroller:
    settings = EnrollSettings(url=url, timeout_s=5, retry_min_s=0.01, retry_max_s=0.02, **extra)
    return Enroller(settings, "room-1", state, env={TOKEN_ENV: "cte_tok"} if env is None else env)


def test_enrol_stores_credentials_atomically_with_mode_0600(lms: FakeLms, tmp_path: Path) -> None:
    enroller = _enroller(lms.url + "/", tmp_path / "state")
    creds = enroller.enroll()
    assert (creds.agent_id, creds.host, creds.port, creds.username, creds.password) == (
        "room-1", "10.0.0.5", 1884, "room-1", "pw-1",
    )
    assert lms.requests[0]["path"] == "/api/enroll" and lms.requests[0]["token"] == "cte_tok"
    assert lms.requests[0]["agent_id"] == "room-1" and lms.requests[0]["hostname"]
    assert stat.S_IMODE(enroller.path.stat().st_mode) == 0o600
    assert load_credentials(enroller.path, "room-1") == creds
    assert [p.name for p in enroller.path.parent.iterdir()] == ["credentials.json"]


def test_ensure_uses_stored_credentials_without_asking(lms: FakeLms, tmp_path: Path) -> None:
    enroller = _enroller(lms.url, tmp_path)
    first = enroller.ensure(threading.Event())
    second = _enroller(lms.url, tmp_path, env={}).ensure(threading.Event())  # no token needed any more
    assert first == second and len(lms.requests) == 1


def test_the_token_file_is_read_when_the_variable_is_absent(lms: FakeLms, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("cte_from_file\n")
    _enroller(lms.url, tmp_path, env={}, token_file=token_file).enroll()
    assert lms.requests[0]["token"] == "cte_from_file"


def test_no_token_and_no_credentials_is_a_clear_non_retryable_error(lms: FakeLms, tmp_path: Path) -> None:
    with pytest.raises(EnrollmentError) as refused:
        _enroller(lms.url, tmp_path, env={}).ensure(threading.Event())
    assert not refused.value.retryable and TOKEN_ENV in refused.value.message
    assert lms.requests == []


def test_a_refused_token_is_not_retried_and_writes_nothing(lms: FakeLms, tmp_path: Path) -> None:
    lms.status, lms.body = 403, {"success": False, "error": "enrolment token 3 is used up", "error_code": "forbidden"}
    with pytest.raises(EnrollmentError) as refused:
        _enroller(lms.url, tmp_path).enroll_retrying(threading.Event())
    assert not refused.value.retryable and "(403): enrolment token 3 is used up" in refused.value.message
    assert len(lms.requests) == 1 and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("status", "body"),
    [(503, {"error": "the site broker is unavailable"}), (200, b"not json"), (200, {"data": {"agent_id": "room-1"}})],
)
def test_lms_trouble_is_retried(lms: FakeLms, tmp_path: Path, status: int, body: Any) -> None:
    lms.status, lms.body = status, body
    with pytest.raises(EnrollmentError) as failed:
        _enroller(lms.url, tmp_path).enroll()
    assert failed.value.retryable
    assert list(tmp_path.iterdir()) == []
    # ... and enroll_retrying gets through once the LMS is well again.
    lms.status, lms.body = 200, None
    assert _enroller(lms.url, tmp_path).enroll_retrying(threading.Event()) is not None


def test_an_unreachable_lms_is_retried_until_stopped(tmp_path: Path) -> None:
    enroller = _enroller(f"http://127.0.0.1:{free_port()}", tmp_path)
    with pytest.raises(EnrollmentError) as failed:
        enroller.enroll()
    assert failed.value.retryable and "cannot reach the LMS" in failed.value.message
    stop = threading.Event()
    stop.set()
    assert enroller.enroll_retrying(stop) is None


def test_an_answer_for_another_agent_is_refused(lms: FakeLms, tmp_path: Path) -> None:
    mqtt = {"host": "h", "port": 1, "username": "u", "password": "p"}
    lms.body = {"data": {"agent_id": "someone-else", "mqtt": mqtt}}
    with pytest.raises(EnrollmentError) as refused:
        _enroller(lms.url, tmp_path).enroll()
    assert not refused.value.retryable
    assert list(tmp_path.iterdir()) == []


def test_unreadable_or_foreign_credential_files_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    path.write_text("{half")
    assert load_credentials(path, "room-1") is None
    save_credentials(path, Credentials("room-2", "h", 1, "room-2", "p", 0.0))
    assert load_credentials(path, "room-1") is None
    assert load_credentials(tmp_path / "missing.json", "room-1") is None


def test_credentials_apply_to_the_mqtt_settings() -> None:
    mqtt = MqttSettings(client_id="x", username="x", keepalive_s=42)
    applied = Credentials("room-1", "10.0.0.5", 1884, "room-1", "secret", 0.0).apply(mqtt)
    assert (applied.host, applied.port, applied.client_id, applied.username) == ("10.0.0.5", 1884, "room-1", "room-1")
    assert applied.password is not None and applied.password.get_secret_value() == "secret"
    assert applied.keepalive_s == 42


def test_the_refusal_watch_re_enrols_exactly_once(lms: FakeLms, tmp_path: Path) -> None:
    refused = [0]
    got: list[Credentials] = []
    arrived = threading.Event()

    def use(creds: Credentials) -> None:
        got.append(creds)
        arrived.set()

    watch = RefusalWatch(_enroller(lms.url, tmp_path), lambda: refused[0], use, period_s=0.01).start()
    try:
        refused[0] = 1
        assert arrived.wait(5.0)
        assert [c.password for c in got] == ["pw-1"] and watch.reenrolled
        # Refused again: no second enrolment (the watch only logs from now on). A sentinel proves it looked:
        # the watch reads the counter again after this one.
        refused[0] = 2
        seen_again = threading.Event()
        watch._refused = lambda: (seen_again.set(), refused[0])[1]  # type: ignore[method-assign]
        assert seen_again.wait(5.0)
        seen_twice = threading.Event()
        watch._refused = lambda: (seen_twice.set(), refused[0])[1]  # type: ignore[method-assign]
        assert seen_twice.wait(5.0)
        assert len(lms.requests) == 1 and len(got) == 1
    finally:
        watch.stop()
