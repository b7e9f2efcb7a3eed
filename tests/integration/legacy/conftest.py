"""Fixtures of the ClassTop-client tests: one LMS subprocess per module (with its site broker) and stand-in
ClassTop clients, each in its own process (``classtop_client.py``)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from infra.local.ports import free_port
from tests.fixtures.brokers import Broker, running_site_broker
from tests.integration.lms.lms_harness import LmsProcess, lms_config_text

CLIENT_SCRIPT = Path(__file__).with_name("classtop_client.py")


@pytest.fixture(scope="module")
def module_broker() -> Iterator[Broker]:
    with running_site_broker("legacy-site") as broker:
        yield broker


def start_lms(
    tmp: Path,
    broker: Broker,
    *,
    tls: tuple[Path, Path] | None = None,
    verify: bool = True,
    classtop: dict[str, object] | None = None,
    cloud_port: int | None = None,
    settings: dict[str, object] | None = None,
) -> LmsProcess:
    """An LMS subprocess; with ``tls`` it serves HTTPS and its API client trusts the certificate; ``classtop`` is
    its ``[classtop]`` section (absent: the defaults), ``cloud_port`` the IoT Core stand-in's port."""
    top: dict[str, object] = {"command_timeout_s": 5, **(settings or {})}
    if tls is not None:
        top |= {"tls_cert_file": str(tls[0]), "tls_key_file": str(tls[1])}
    if classtop is not None:
        top["classtop"] = classtop
    text = lms_config_text(site_broker=broker, cloud_port=cloud_port, http_port=free_port(), db_path=tmp / "lms.db",
                           settings=top)  # fmt: skip
    lms = LmsProcess(tmp, text, broker.passwords["lms"])
    if tls is not None:
        lms.http.close()
        lms.base_url = lms.base_url.replace("http://127.0.0.1", "https://localhost")
        lms.http = httpx.Client(base_url=lms.base_url, timeout=30.0, verify=str(tls[0]) if verify else False,
                                headers={"Authorization": f"Bearer {lms.admin_token}"})  # fmt: skip
    return lms.start(wait_cloud=cloud_port is not None)


@pytest.fixture(scope="module")
def lms(module_broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LmsProcess]:
    # an open site: these tests are about the protocol (the approval policy has its own, test_classtop_lan.py)
    lms = start_lms(tmp_path_factory.mktemp("legacy-lms"), module_broker, classtop={"client_policy": "open"})
    try:
        yield lms
    finally:
        lms.close()


ClientFactory = Callable[..., subprocess.Popen[str]]


@pytest.fixture
def classtop_client(tmp_path: Path) -> Iterator[ClientFactory]:
    """Start stand-in ClassTop clients (own processes); killed on teardown."""
    made: list[subprocess.Popen[str]] = []

    def start(url: str, uuid: str, *extra: str) -> subprocess.Popen[str]:
        log = open(tmp_path / f"client-{uuid}-{len(made)}.log", "w")  # noqa: SIM115 - the child owns it
        proc = subprocess.Popen(
            [sys.executable, str(CLIENT_SCRIPT), "--url", url, "--uuid", uuid, "--reconnect-s", "0.5", *extra],
            stdout=log, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        made.append(proc)
        return proc

    yield start
    for proc in made:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
