"""The LMS container's first days without the cloud: run the site now, join the cloud when it answers.

A site is enrolled with an IoT endpoint and a one-time token, but the internet may be down on the day the
mini-PC is installed, or the cloud may refuse the token until the district admin fixes it. The site must not
wait for that: :class:`SiteOnlyRun` starts the LMS site-only (agents, commands, the console and ClassTop clients
all work), tries the enrolment again with backoff (each failure printed with its reason and the next attempt's
time), and once enrolled stops the LMS so that the entrypoint starts it again with its ``[cloud]`` table — the
outbox then drains to the cloud. The one restart takes seconds; agents reconnect by themselves.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from shared.backoff import Backoff

#: first retry after ~30 s, then doubling up to 15 min (a cloud outage, a token the admin must replace)
RETRY_MIN_S, RETRY_MAX_S = 30.0, 900.0
#: how long the LMS may take to stop cleanly (its own shutdown drains the store) before it is killed
STOP_TIMEOUT_S = 30.0
#: how often the LMS process is checked while waiting for the next attempt
POLL_S = 1.0


class EnrolmentFailed(Exception):
    """One enrolment attempt failed; ``str()`` says why (printed, then retried)."""


def _say(message: str) -> None:
    print(f"entrypoint: {message}", file=sys.stderr, flush=True)


@dataclass
class SiteOnlyRun:
    """Run ``lms_argv`` and retry ``enrol`` until it succeeds, the LMS ends, or ``stop`` is set."""

    lms_argv: Sequence[str]
    #: one attempt: returns when enrolled, raises :class:`EnrolmentFailed` otherwise
    enrol: Callable[[], None]
    backoff: Backoff = field(default_factory=lambda: Backoff(RETRY_MIN_S, RETRY_MAX_S))
    stop: threading.Event = field(default_factory=threading.Event)
    say: Callable[[str], None] = _say

    def run(self) -> int | None:
        """``None`` once enrolled (the LMS stopped, to be started with the cloud); else the LMS's exit code."""
        self.say("the LMS starts site-only while it cannot join the cloud; it will keep trying")
        lms = subprocess.Popen(list(self.lms_argv))
        try:
            while True:
                delay = self.backoff.next()
                self.say(f"next enrolment attempt in {delay:.0f} s")
                code = self._wait(lms, delay)
                if code is not None:
                    return code
                try:
                    self.enrol()
                except EnrolmentFailed as exc:
                    self.say(f"enrolment failed: {exc}")
                    continue
                self.say("enrolled: restarting the LMS with the cloud")
                _stop(lms)
                return None
        finally:
            if lms.poll() is None:
                _stop(lms)

    def _wait(self, lms: subprocess.Popen[bytes], seconds: float) -> int | None:
        """Wait ``seconds``; the LMS's exit code if it ended (or ``stop`` was set and it was stopped)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self.stop.wait(min(POLL_S, left)):
                return _stop(lms)
            code = lms.poll()
            if code is not None:
                self.say(f"the LMS ended with code {code}")
                return code
        return None


def _stop(lms: subprocess.Popen[bytes]) -> int:
    lms.terminate()
    try:
        return lms.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        lms.kill()
        return lms.wait()
