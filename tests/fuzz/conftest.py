"""Hypothesis profiles of the fuzz tests (issue 17).

``HYPOTHESIS_PROFILE`` picks one: ``default`` (what ``make test`` runs: a few examples per interface, bounded), or
``fuzz`` (what ``make fuzz`` runs: 2,000 per test, or ``FUZZ_EXAMPLES``). No deadline in either: the machine is
shared and a slow example is not a failure. Every test here is marked ``fuzz``; under ``fuzz`` a test without a
``timeout`` mark of its own gets :data:`FUZZ_TIMEOUT_S` instead of the project's 120 s (2,000 cases of one interface
took 137 s on the shared machine: a timeout there is the run's size, not a hang).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from tests.fuzz.tally import CASES

SUPPRESSED = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture,
              HealthCheck.large_base_example]  # fmt: skip
settings.register_profile("default", max_examples=20, deadline=None, suppress_health_check=SUPPRESSED)
FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "2000"))
settings.register_profile("fuzz", max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=SUPPRESSED,
                          print_blob=True)  # fmt: skip
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "default")
settings.load_profile(PROFILE)
#: a fuzz-profile test's timeout (a hang guard, as the schemathesis runs': tests/fuzz/openapi_checks.py)
FUZZ_TIMEOUT_S = 3 * 3600


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/fuzz/" in str(item.fspath):
            item.add_marker(pytest.mark.fuzz)
            if PROFILE == "fuzz" and item.get_closest_marker("timeout") is None:
                item.add_marker(pytest.mark.timeout(FUZZ_TIMEOUT_S))
            # an exception that ends a worker thread fails the test
            item.add_marker(pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning"))


@pytest.fixture(autouse=True)
def no_exception_in_the_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """The property's last part: no handler logged an exception (``log.exception``: a bug caught by a safety net)
    while it was fed hostile input; refusals are warnings without a traceback."""
    yield
    tracebacks = [r for r in caplog.records if r.exc_info is not None]
    assert not tracebacks, [f"{r.name}: {r.getMessage()}" for r in tracebacks][:5]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not CASES:
        return
    terminalreporter.section(f"fuzz: cases generated per interface (profile {PROFILE})")
    for interface, count in sorted(CASES.items()):
        terminalreporter.write_line(f"{count:8d}  {interface}")
    terminalreporter.write_line(f"{sum(CASES.values()):8d}  in all")
