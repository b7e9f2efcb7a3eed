"""``infra/lms/compose.yaml`` run without Docker (issue 19): every service's command line with its environment
(``site.env.example``'s variables), in the compose file's order and conditions, as real processes — the one-shot
``site-tls`` step through the image's entrypoint, the broker through ``mosquitto-start.sh``, the LMS through the
entrypoint — each passing its compose health check run as written (``tests/fixtures/site_compose.py``)."""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import tempfile
import tomllib
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.local.process import wait_for
from tests.fixtures.lms_image import REPO, own_network
from tests.fixtures.site_compose import LMS_DIR, SiteCompose, example_env

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("mosquitto") is None,
                       reason="root, unshare and mosquitto: namespaces stand in for the containers"),
]

LAN_NAME = "lms.school-1.lan"  # site.env.example's CLASSTOP_LMS_ADVERTISE_HOST


@pytest.fixture
def work() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="ct-compose-"))  # traversable by the broker's user (not tmp_path)
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_the_compose_services_come_up_healthy_site_only(work: Path) -> None:
    env = example_env(CLASSTOP_IOT_ENDPOINT="", CLASSTOP_CLOUD_API="")  # a site-only first start
    assert env["CLASSTOP_LMS_ADVERTISE_HOST"] == LAN_NAME
    with own_network():
        site = SiteCompose(work, env, hosts={"mosquitto": "127.0.0.1", LAN_NAME: "127.0.0.1"})
        try:
            site.up()
            site.wait("lms", "service_healthy")
            assert all(site.processes[name].alive for name in ("mosquitto", "lms"))
            assert site.processes["site-tls"].proc is not None and site.processes["site-tls"].proc.returncode == 0

            data = site.path("/data")
            config = tomllib.loads((data / "lms.toml").read_text())
            assert config["site_broker"]["host"] == "mosquitto" and config["site_broker"]["port"] == 8883
            assert config["site_broker"]["dynsec"]["advertise_host"] == LAN_NAME and "cloud" not in config
            context = ssl.create_default_context(cafile=str(data / "site-ca" / "ca.crt"))
            with urllib.request.urlopen("https://127.0.0.1:8000/api/health", timeout=10, context=context) as answer:
                health = json.loads(answer.read())
            want = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
            assert health["success"] is True and health["data"]["status"] == "ok"  # the site broker connected
            assert health["data"]["version"] == want  # the image's version, not 0.0.0
        except BaseException:
            print(site.logs())
            raise
        finally:
            site.down()
    # nothing of the site outlives it (the broker's certificate watcher included)
    wait_for("the site's processes to end", lambda: not _running(str(LMS_DIR / "mosquitto-start.sh")), 15)


def _running(pattern: str) -> bool:
    return bool(subprocess.run(["pgrep", "-f", pattern], capture_output=True, check=False).stdout)

