"""Running schemathesis against a live API from a pytest test: its command line as a subprocess, every check on.

:func:`run_schemathesis` runs ``schemathesis run`` with ``--checks all`` against ``<base_url>/openapi.json``, sized
by the hypothesis profile in force (tests/fuzz/conftest.py):

* ``fuzz`` (``make fuzz``): every phase (examples, coverage: the boundary and wrong-type values of every keyword,
  fuzzing, and stateful sequences along the document's links), a tenth of the profile's cases per operation
  (``FUZZ_EXAMPLES`` / 10: 200 by default; each case is an HTTP round trip plus the checks' own probes, ~20 a
  second here, so the profile's full 2,000 per operation would take hours for an API of 70 operations);
* ``default`` (``make test``): a short bounded run: examples, fuzzing and stateful, a quarter of the profile's
  cases per operation (5), no coverage phase (its fixed ~40 s is the long run's).

It returns the run's output and the counts of its summary; a failing case is printed with its ``curl``
reproduction, from which a regression test is written.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from hypothesis import settings

#: schemathesis's summary line: "Test cases:\n  390 generated, 109 found 119 unique failures, 36 skipped"
_GENERATED = re.compile(r"^\s*(\d+) generated", re.MULTILINE)
_FAILURE_KINDS = re.compile(r"^\s*❌ (ST\d+ [^:\n]+): (\d+)$", re.MULTILINE)


@dataclass(frozen=True)
class SchemathesisRun:
    returncode: int
    output: str

    @property
    def generated(self) -> int:
        match = _GENERATED.search(self.output)
        return int(match.group(1)) if match else 0

    @property
    def failures(self) -> dict[str, int]:
        """Failures by kind (``"ST103 Undocumented status code": 3``)."""
        return {kind: int(n) for kind, n in _FAILURE_KINDS.findall(self.output)}

    @property
    def operations(self) -> int:
        match = re.search(r"Tested: (\d+)", self.output)
        return int(match.group(1)) if match else 0


REPO = Path(__file__).resolve().parents[2]

#: What schemathesis's checks take as a refusal (``negative_data_rejection``) and as an acceptance
#: (``positive_data_acceptance``) besides its defaults: 413, a body over the server's size limit (a limit in bytes,
#: which JSON Schema cannot say; each body's document lists the 413). And ``/api/live`` (the LMS's Server-Sent
#: Events) read for 2 s, not the run's 30: the stream never ends and sends only a keep-alive comment every 15 s
#: while nothing changes, and schemathesis reads a stream until its request timeout passes, so each case took 30 s
#: (over an hour of a ``make fuzz`` run); its headers and first frames come at once.
CONFIG = """
[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"]

[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "413", "429", "5xx"]

[[operations]]
include-path = "/api/live"
request-timeout = 2
"""


#: How long one run may take, by hypothesis profile (a test's ``pytest.mark.timeout`` is a minute more).
RUN_TIMEOUT_S = 3 * 3600 if os.environ.get("HYPOTHESIS_PROFILE", "default") == "fuzz" else 240


def _size() -> list[str]:
    """The run's phases and cases per operation for the hypothesis profile in force (see the module docstring)."""
    profile = settings.default
    assert profile is not None  # hypothesis always has a profile in force
    if os.environ.get("HYPOTHESIS_PROFILE", "default") == "fuzz":
        return ["--max-examples", str(max(1, profile.max_examples // 10))]
    return ["--max-examples", str(max(1, profile.max_examples // 4)), "--phases", "examples,fuzzing,stateful"]


def run_schemathesis(
    base_url: str,
    workdir: Path,
    *,
    headers: dict[str, str],
    hooks_module: str | None = None,
    env: dict[str, str] | None = None,
    extra: list[str] | None = None,
    timeout_s: float = RUN_TIMEOUT_S,
) -> SchemathesisRun:
    """``schemathesis run --checks all`` against ``base_url``'s ``/openapi.json`` (see the module docstring)."""
    config = workdir / "schemathesis.toml"
    config.write_text(CONFIG, encoding="utf-8")
    args = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run", f"{base_url}/openapi.json",
        "--checks", "all",
        *_size(),
        "--workers", "1",  # two crashed in CPython 3.11's parser now and then (python/cpython#106905)
        "--request-timeout", "30",
        "--no-color", "--output-truncate", "false",
        "--report", "junit", "--report-dir", str(workdir),
        *[arg for name, value in headers.items() for arg in ("--header", f"{name}: {value}")],
        *(extra or []),
    ]  # fmt: skip
    # the hooks module is imported by the schemathesis process: the project's root on its path (make test sets no
    # PYTHONPATH; pytest puts the root on its own path only)
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    run_env = {**os.environ, **(env or {}), "SCHEMATHESIS_HOOKS": hooks_module or "", "PYTHONPATH": path}
    if hooks_module is None:
        run_env.pop("SCHEMATHESIS_HOOKS")
    done = subprocess.run(args, cwd=workdir, env=run_env, capture_output=True, text=True, timeout=timeout_s)
    return SchemathesisRun(done.returncode, done.stdout + done.stderr)
