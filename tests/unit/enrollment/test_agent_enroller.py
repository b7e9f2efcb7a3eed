"""The agent's side of enrolment (``edge.agent.enrolment``) against a real local HTTP server."""

from __future__ import annotations

import json
import stat
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from edge.agent.config_structs import EnrolmentSettings, MqttSettings  # what the agent applies credentials to
from edge.agent.credentials import Credentials, load_credentials, save_credentials
from edge.agent.enrolment import TOKEN_ENV, Enroller, EnrolmentError, RefusalWatch
from edge.lms.tls import SiteCa
from infra.local.ports import free_port
from shared.messages.structs import build


@pytest.fixture(scope="module")
def site_ca(tmp_path_factory: pytest.TempPathFactory) -> SiteCa:
    return SiteCa.open(tmp_path_factory.mktemp("ca"), name="test site CA")


class FakeLms:
    """A real HTTP server (loopback: plain HTTP is allowed there) answering ``GET /api/enroll/ca`` with the
    site CA and ``POST /api/enroll`` with whatever the test sets."""

    def __init__(self, ca_pem: str) -> None:
        self.status = 200
        self.body: Any = None
        self.ca_pem = ca_pem
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests.append({"path": self.path})
                raw = outer.ca_pem.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                request = json.loads(self.rfile.read(length))
                outer.requests.append({"path": self.path, **request})
                body = outer.body if outer.body is not None else {
                    "success": True,
                    "data": {"agent_id": request["agent_id"], "mqtt": {
                        "host": "10.0.0.5", "port": 8883, "username": request["agent_id"],
                        "password": f"pw-{len(outer.posts)}", "tls": True}},
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

    @property
    def posts(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"] == "/api/enroll"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def lms(site_ca: SiteCa) -> Iterator[FakeLms]:
    server = FakeLms(site_ca.cert_pem)
    yield server
    server.close()


#: The pinned fingerprint every enroller of this module is configured with (set from the ``site_ca`` fixture).
CA_HASH: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _pinned(site_ca: SiteCa) -> None:
    CA_HASH["site"] = site_ca.fingerprint


def _enroller(url: str, state: Path, env: dict[str, str] | None = None, **extra: Any) -> Enroller:
    extra.setdefault("ca_hash", CA_HASH["site"])
    settings = build(EnrolmentSettings, url=url, timeout_s=5, retry_min_s=0.01, retry_max_s=0.02, **extra)
    return Enroller(settings, "room-1", state, env={TOKEN_ENV: "cte_tok"} if env is None else env)


def test_enrol_stores_credentials_atomically_with_mode_0600(lms: FakeLms, tmp_path: Path) -> None:
    enroller = _enroller(lms.url + "/", tmp_path / "state")
    creds = enroller.enrol()
    assert (creds.agent_id, creds.host, creds.port, creds.username, creds.password, creds.tls) == (
        "room-1", "10.0.0.5", 8883, "room-1", "pw-1", True,
    )
    # the CA first (checked), then the token
    assert [r["path"] for r in lms.requests] == ["/api/enroll/ca", "/api/enroll"]
    post = lms.posts[0]
    assert post["token"] == "cte_tok" and post["agent_id"] == "room-1" and post["hostname"]
    assert stat.S_IMODE(enroller.path.stat().st_mode) == 0o600
    assert load_credentials(enroller.path, "room-1", CA_HASH["site"]) == creds
    assert sorted(p.name for p in enroller.path.parent.iterdir()) == ["credentials.json", "site-ca.pem"]
    assert enroller.ca_path.read_text() == lms.ca_pem


def test_a_ca_that_does_not_match_the_pin_stops_before_the_token(
    lms: FakeLms, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    other = SiteCa.open(tmp_path_factory.mktemp("other-ca"), name="someone else")
    lms.ca_pem = other.cert_pem
    with pytest.raises(EnrolmentError) as refused:
        _enroller(lms.url, tmp_path / "state").enrol_retrying(threading.Event())
    assert not refused.value.retryable
    assert f"has fingerprint {other.fingerprint}, not the configured" in refused.value.message
    assert lms.posts == [] and not (tmp_path / "state").exists()


@pytest.mark.parametrize("answer", ["no certificate", "-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----"])
def test_an_unusable_ca_answer_is_retried_and_sends_nothing(lms: FakeLms, tmp_path: Path, answer: str) -> None:
    lms.ca_pem = answer
    with pytest.raises(EnrolmentError) as failed:
        _enroller(lms.url, tmp_path).enrol()
    assert failed.value.retryable and "no usable CA certificate" in failed.value.message
    assert lms.posts == []


def test_plain_mqtt_to_a_lan_broker_is_refused(lms: FakeLms, tmp_path: Path) -> None:
    lms.body = {"data": {"agent_id": "room-1", "mqtt": {"host": "10.0.0.5", "port": 1883, "username": "room-1",
                                                         "password": "p", "tls": False}}}  # fmt: skip
    with pytest.raises(EnrolmentError) as refused:
        _enroller(lms.url, tmp_path).enrol()
    assert not refused.value.retryable and "plain MQTT to 10.0.0.5" in refused.value.message
    assert not (tmp_path / "credentials.json").exists()


def test_credentials_made_under_another_ca_are_enrolled_again(
    lms: FakeLms, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    _enroller(lms.url, tmp_path).enrol()
    assert load_credentials(tmp_path / "credentials.json", "room-1", CA_HASH["site"]) is not None
    other = SiteCa.open(tmp_path_factory.mktemp("new-ca"), name="a new site CA").fingerprint
    assert load_credentials(tmp_path / "credentials.json", "room-1", other) is None  # the pin changed
    (tmp_path / "site-ca.pem").write_text(lms.ca_pem.replace("A", "B", 1))  # the stored CA was tampered with
    assert load_credentials(tmp_path / "credentials.json", "room-1", CA_HASH["site"]) is None


def test_ensure_uses_stored_credentials_without_asking(lms: FakeLms, tmp_path: Path) -> None:
    enroller = _enroller(lms.url, tmp_path)
    first = enroller.ensure(threading.Event())
    second = _enroller(lms.url, tmp_path, env={}).ensure(threading.Event())  # no token needed any more
    assert first == second and len(lms.posts) == 1


def test_the_token_file_is_read_when_the_variable_is_absent(lms: FakeLms, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("cte_from_file\n")
    _enroller(lms.url, tmp_path, env={}, token_file=token_file).enrol()
    assert lms.posts[0]["token"] == "cte_from_file"


def test_no_token_and_no_credentials_is_a_clear_non_retryable_error(lms: FakeLms, tmp_path: Path) -> None:
    with pytest.raises(EnrolmentError) as refused:
        _enroller(lms.url, tmp_path, env={}).ensure(threading.Event())
    assert not refused.value.retryable and TOKEN_ENV in refused.value.message
    assert lms.requests == []


def test_a_refused_token_is_not_retried_and_writes_nothing(lms: FakeLms, tmp_path: Path) -> None:
    lms.status, lms.body = 403, {"success": False, "error": "enrolment token 3 is used up", "error_code": "forbidden"}
    with pytest.raises(EnrolmentError) as refused:
        _enroller(lms.url, tmp_path).enrol_retrying(threading.Event())
    assert not refused.value.retryable and "(403): enrolment token 3 is used up" in refused.value.message
    assert len(lms.posts) == 1 and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("status", "body"),
    [(503, {"error": "the site broker is unavailable"}), (200, b"not json"), (200, {"data": {"agent_id": "room-1"}})],
)
def test_lms_trouble_is_retried(lms: FakeLms, tmp_path: Path, status: int, body: Any) -> None:
    lms.status, lms.body = status, body
    with pytest.raises(EnrolmentError) as failed:
        _enroller(lms.url, tmp_path).enrol()
    assert failed.value.retryable
    assert list(tmp_path.iterdir()) == []
    # ... and enrol_retrying gets through once the LMS is well again.
    lms.status, lms.body = 200, None
    assert _enroller(lms.url, tmp_path).enrol_retrying(threading.Event()) is not None


def test_an_unreachable_lms_is_retried_until_stopped(tmp_path: Path) -> None:
    enroller = _enroller(f"http://127.0.0.1:{free_port()}", tmp_path)
    with pytest.raises(EnrolmentError) as failed:
        enroller.enrol()
    assert failed.value.retryable and "cannot reach the LMS" in failed.value.message
    stop = threading.Event()
    stop.set()
    assert enroller.enrol_retrying(stop) is None


def test_an_answer_for_another_agent_is_refused(lms: FakeLms, tmp_path: Path) -> None:
    mqtt = {"host": "h", "port": 1, "username": "u", "password": "p"}
    lms.body = {"data": {"agent_id": "someone-else", "mqtt": mqtt}}
    with pytest.raises(EnrolmentError) as refused:
        _enroller(lms.url, tmp_path).enrol()
    assert not refused.value.retryable
    assert list(tmp_path.iterdir()) == []


def test_unreadable_or_foreign_credential_files_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    path.write_text("{half")
    assert load_credentials(path, "room-1") is None
    save_credentials(path, Credentials("room-2", "h", 1, "room-2", "p", 0.0, True, "sha256:" + "0" * 64))
    assert load_credentials(path, "room-1") is None
    path.write_text('{"agent_id": "room-1", "host": "h", "port": 1, "username": "u", "password": "p"}')  # older
    assert load_credentials(path, "room-1") is None
    assert load_credentials(tmp_path / "missing.json", "room-1") is None


def test_credentials_apply_to_the_mqtt_settings(tmp_path: Path) -> None:
    mqtt = MqttSettings(client_id="x", username="x", keepalive_s=42)
    creds = Credentials("room-1", "10.0.0.5", 8883, "room-1", "secret", 0.0, True, "sha256:" + "0" * 64)
    applied = creds.apply(mqtt, tmp_path / "site-ca.pem")
    assert (applied.host, applied.port, applied.client_id, applied.username) == ("10.0.0.5", 8883, "room-1", "room-1")
    assert applied.password is not None and applied.password.get_secret_value() == "secret"
    assert applied.keepalive_s == 42
    assert applied.tls is not None and applied.tls.ca_file == tmp_path / "site-ca.pem"  # the pinned CA only
    plain = Credentials("room-1", "127.0.0.1", 1883, "room-1", "s", 0.0, False, creds.ca_hash)
    assert plain.apply(mqtt, tmp_path / "site-ca.pem").tls is None


def noting(seen: threading.Event, refused: list[int]) -> Callable[[], int]:
    """The refusal counter ``refused[0]``, setting ``seen`` each time the watch reads it."""

    def read() -> int:
        seen.set()
        return refused[0]

    return read


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
        watch._refused = noting(seen_again, refused)
        assert seen_again.wait(5.0)
        seen_twice = threading.Event()
        watch._refused = noting(seen_twice, refused)
        assert seen_twice.wait(5.0)
        assert len(lms.posts) == 1 and len(got) == 1
    finally:
        watch.stop()


def test_the_refusal_watch_tries_the_previous_password_before_re_enrolling(lms: FakeLms, tmp_path: Path) -> None:
    """Issue 19: a rotated password the broker refuses (the LMS could not set it) falls back to the previous one
    first; only a refusal after that re-enrols."""
    refused = [0]
    fell_back: list[bool] = []
    got: list[Credentials] = []
    arrived = threading.Event()

    def fall_back() -> bool:
        fell_back.append(not fell_back)  # True once: there was a previous password
        return fell_back[-1]

    def use(creds: Credentials) -> None:
        got.append(creds)
        arrived.set()

    watch = RefusalWatch(_enroller(lms.url, tmp_path), lambda: refused[0], use, period_s=0.01,
                         fall_back=fall_back).start()  # fmt: skip
    try:
        refused[0] = 1
        deadline = time.monotonic() + 5.0
        while not fell_back and time.monotonic() < deadline:
            time.sleep(0.01)
        looked = threading.Event()  # one more full look after the fallback: still no enrolment
        watch._refused = noting(looked, refused)
        assert looked.wait(5.0)
        looked_again = threading.Event()
        watch._refused = noting(looked_again, refused)
        assert looked_again.wait(5.0)
        assert fell_back == [True] and lms.posts == [] and not watch.reenrolled
        refused[0] = 2  # refused again: nothing to fall back to, so it re-enrols
        assert arrived.wait(5.0)
        assert fell_back == [True, False] and len(lms.posts) == 1 and watch.reenrolled
    finally:
        watch.stop()
