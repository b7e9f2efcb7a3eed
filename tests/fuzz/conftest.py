"""Hypothesis profiles of the fuzz tests (issue 17).

``HYPOTHESIS_PROFILE`` picks one: ``default`` (what ``make test`` runs: a few examples per interface, bounded), or
``fuzz`` (what ``make fuzz`` runs: 2,000 per test, or ``FUZZ_EXAMPLES``). No deadline in either: the machine is
shared and a slow example is not a failure. Every test here is marked ``fuzz``.
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
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/fuzz/" in str(item.fspath):
            item.add_marker(pytest.mark.fuzz)
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
    profile = os.environ.get("HYPOTHESIS_PROFILE", "default")
    terminalreporter.section(f"fuzz: cases generated per interface (profile {profile})")
    for interface, count in sorted(CASES.items()):
        terminalreporter.write_line(f"{count:8d}  {interface}")
    terminalreporter.write_line(f"{sum(CASES.values()):8d}  in all")
