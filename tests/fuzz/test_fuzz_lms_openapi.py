"""Fuzz the LMS's HTTP API against its own OpenAPI document with schemathesis (issue 17).

A real LMS (``python -m edge.lms``) on a free loopback port, with a site broker running the dynamic-security plugin
(enrolment, credential and CA rotation are on), a cloud broker (the outbox and its dead-letter are on) and the real
admin token it bootstraps from ``CLASSTOP_LMS_ADMIN_TOKEN``. schemathesis (its command line, as a subprocess:
tests/fuzz/openapi_checks.py) loads ``/openapi.json`` from it, generates requests for every operation (valid ones
and, for the negative checks, invalid ones), runs stateful sequences along the document's links, and applies every
check it has: no 5xx, every status, header and body as documented, schema-valid requests accepted and invalid ones
refused with a 4xx, authentication enforced where it is declared, a deleted resource gone.

The LMS is this module's own and thrown away afterwards, so destructive routes (retire, revoke, rotations, the
site CA's rotation) are fuzzed like the others; only the admin token the run holds is never revoked
(tests/fuzz/lms_openapi_hooks.py says why). The size follows the hypothesis profile (tests/fuzz/conftest.py). After
the run the LMS must still answer and its log must hold no traceback.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from infra.local.ports import free_port
from tests.fixtures.brokers import Broker, broker_process, running
from tests.fuzz.openapi_checks import RUN_TIMEOUT_S, run_schemathesis
from tests.fuzz.tally import CASES
from tests.integration.lms.lms_harness import ADMIN_TOKEN, LmsProcess, lms_config_text

DYNSEC_ADMIN = "dynsec-admin"


@pytest.fixture
def lms(tmp_path: Path) -> Iterator[LmsProcess]:
    """The LMS under test, with dynamic security and a cloud link (see the module docstring)."""
    dynsec_password = secrets.token_urlsafe(16)
    site_process = broker_process("fuzz-dynsec", template="site-dynsec", dynsec_admin=(DYNSEC_ADMIN, dynsec_password))
    workdir = Path(tempfile.mkdtemp(prefix="ct-fuzz-lms-"))
    with running(Broker(site_process, {"lms": secrets.token_urlsafe(16)})) as site_broker, \
            running(Broker(broker_process("fuzz-cloud", template="cloud"))) as cloud_broker:  # fmt: skip
        text = lms_config_text(site_broker=site_broker, cloud_port=cloud_broker.port, http_port=free_port(),
                               db_path=workdir / "lms.db")  # fmt: skip
        text += f'\n[site_broker.dynsec]\nusername = "{DYNSEC_ADMIN}"\ntimeout_s = 5\nadvertise_tls = false\n'
        process = LmsProcess(workdir, text, site_broker.passwords["lms"])
        process.env["CLASSTOP_LMS_DYNSEC_PASSWORD"] = dynsec_password
        try:
            with process.running():
                yield process
        finally:
            print(process.log()[-4000:])  # shown by pytest when the test failed
            shutil.rmtree(workdir, ignore_errors=True)


@pytest.mark.integration
@pytest.mark.timeout(RUN_TIMEOUT_S + 60)
def test_the_lms_keeps_to_its_openapi_document(lms: LmsProcess, tmp_path: Path) -> None:
    tokens = lms.http.get("/api/tokens").json()["data"]["tokens"]
    own_id = next(t["id"] for t in tokens if t["name"] == "bootstrap admin env")
    run = run_schemathesis(
        lms.base_url, tmp_path, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        hooks_module="tests.fuzz.lms_openapi_hooks", env={"CT_FUZZ_OWN_TOKEN_ID": str(own_id)},
    )  # fmt: skip
    CASES["LMS HTTP API (schemathesis, all checks)"] += run.generated
    print(run.output)
    assert run.returncode == 0 and not run.failures, (run.failures, run.output[-20000:])
    assert run.operations >= 70 and run.generated > 0, run.output[-3000:]
    assert httpx.get(f"{lms.base_url}/api/health", timeout=10).status_code == 200
    tracebacks = [line for line in lms.log().splitlines() if "Traceback" in line]
    assert not tracebacks, lms.log()[-6000:]
