"""The LMS container's first start as a site technician meets it (issue 19, "Install"): no internet on the day,
a cloud added later, settings changed in ``site.env``. The entrypoint runs for real against a local HTTP stand-in
of the cloud's register call; the LMS it starts is a real child process (a small stand-in program that records
the configuration it was started with, since the container's LMS would bind the LAN's interfaces)."""

from __future__ import annotations

import json
import sys
import threading
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.lms.config import load_config
from infra.lms.entrypoint import CERT_FILE, MARKER, main, run
from infra.lms.site_only_run import EnrolmentFailed, SiteOnlyRun
from shared.backoff import Backoff
from tests.fixtures.register_cloud import BASE_ENV, CloudStandIn, registered

#: the child "LMS": appends the tables of the config it was started with to a log, then runs until stopped
FAKE_LMS = """
import json, sys, time, tomllib
with open(sys.argv[1], "rb") as f:
    tables = sorted(tomllib.load(f))
with open(sys.argv[2], "a") as log:
    log.write(json.dumps(tables) + "\\n")
time.sleep(120)
"""


def starts(runs: Path) -> list[list[str]]:
    return [json.loads(line) for line in runs.read_text().splitlines()] if runs.exists() else []


def wait_until(condition: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def joining_env(api: str, data_dir: Path) -> dict[str, str]:
    return {**BASE_ENV, "CLASSTOP_DATA_DIR": str(data_dir), "CLASSTOP_CLOUD_API": api,
            "CLASSTOP_IOT_ENDPOINT": "abc-ats.iot.eu-west-1.amazonaws.com", "CLASSTOP_ENROLMENT_TOKEN": "cte_secret"}


def test_no_internet_on_day_one_runs_the_site_then_joins_the_cloud_by_itself(
        register_cloud: tuple[CloudStandIn, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state, api = register_cloud
    state.status, state.body = 503, lambda request: {"message": "Service Unavailable"}
    runs = tmp_path / "runs.log"
    outcome: list[object] = []
    stop = threading.Event()
    worker = threading.Thread(target=lambda: outcome.append(run(
        joining_env(api, tmp_path), stop=stop, retry=Backoff(0.05, 0.2, jitter=False),
        lms_command=lambda path: [sys.executable, "-c", FAKE_LMS, str(path), str(runs)])))
    worker.start()
    try:
        # the child writes its start once its Python is up: on a busy machine after the attempts
        wait_until(lambda: len(state.requests) >= 3 and bool(starts(runs)), "three attempts, the site-only LMS up")
        assert starts(runs) == [["db_path", "http_host", "http_port", "site_broker", "site_id", "site_tls", "stage",
                                 "tenant"]]  # the site runs, without [cloud]
        assert not (tmp_path / "certs" / CERT_FILE).exists()
        state.status, state.body = 200, registered()  # the internet is back
        worker.join(30)
        assert not worker.is_alive()
    finally:
        stop.set()
        worker.join(30)
    [argv] = outcome
    assert isinstance(argv, list)  # the LMS's command line, to exec: now with the cloud
    cfg = load_config(Path(argv[3]), env=BASE_ENV)
    assert cfg.cloud is not None and cfg.cloud.tls is not None and cfg.cloud.tls.cert_file.exists()
    assert len(starts(runs)) == 1  # the site-only LMS was stopped, not left beside the new one
    err = capsys.readouterr().err
    assert "enrolment unavailable at" in err and "HTTP 503" in err and "starts site-only" in err
    assert "enrolled as ct--district-a--dev--school-1" in err


def test_the_site_only_lms_ending_or_a_stop_ends_the_wait(tmp_path: Path) -> None:
    def never() -> None:
        raise EnrolmentFailed("no route to host")

    ended = SiteOnlyRun([sys.executable, "-c", "raise SystemExit(3)"], never, Backoff(0.05, 0.05, jitter=False),
                        say=lambda message: None)
    assert ended.run() == 3  # a crashed LMS ends the container (and its restart policy starts it again)

    stop = threading.Event()
    stopped = SiteOnlyRun([sys.executable, "-c", "import time; time.sleep(120)"], never,
                          Backoff(0.05, 0.05, jitter=False), stop, say=lambda message: None)
    threading.Timer(0.5, stop.set).start()
    assert stopped.run() not in (None, 0)  # SIGTERM'd child: the container stops


def test_the_config_follows_the_environment_unless_it_is_the_operators_own(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = {**BASE_ENV, "CLASSTOP_DATA_DIR": str(tmp_path)}
    path = tmp_path / "lms.toml"
    assert main(["--dry-run"], env) == 0
    assert path.read_text().startswith(MARKER) and "tls_cert_file" not in tomllib.loads(path.read_text())
    # the technician adds a certificate ClassTop clients trust: the next start writes it in
    cert, key = tmp_path / "lms.crt", tmp_path / "lms.key"
    assert main(["--dry-run"], {**env, "CLASSTOP_LMS_TLS_CERT_FILE": str(cert),
                                "CLASSTOP_LMS_TLS_KEY_FILE": str(key)}) == 0
    written = tomllib.loads(path.read_text())
    assert (written["tls_cert_file"], written["tls_key_file"]) == (str(cert), str(key))
    assert "written again" in capsys.readouterr().err
    # an unchanged environment leaves the file alone
    before = path.stat().st_mtime_ns
    main(["--dry-run"], {**env, "CLASSTOP_LMS_TLS_CERT_FILE": str(cert), "CLASSTOP_LMS_TLS_KEY_FILE": str(key)})
    assert path.stat().st_mtime_ns == before
    # half a pair is a clear error, nothing rewritten
    assert main(["--dry-run"], {**env, "CLASSTOP_LMS_TLS_CERT_FILE": str(cert)}) == 2
    assert "go together" in capsys.readouterr().err
    assert tomllib.loads(path.read_text()) == written
    # the operator takes the file over (marker lines deleted): kept as it is, and never silently site-only
    own = "\n".join(path.read_text().splitlines()[2:]) + "\n"
    path.write_text(own)
    certs = tmp_path / "certs"
    certs.mkdir()
    (certs / CERT_FILE).write_text("x")
    (certs / "site.private.key").write_text("x")  # already enrolled
    assert main(["--dry-run"], {**env, "CLASSTOP_IOT_ENDPOINT": "abc-ats.iot.eu-west-1.amazonaws.com"}) == 0
    assert path.read_text() == own
    assert "no [cloud] table" in capsys.readouterr().err
