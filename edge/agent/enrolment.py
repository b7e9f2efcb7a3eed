"""Enrolment with the LMS: exchange a site enrolment token for this agent's own broker credentials.

With an ``[enroll]`` section the agent does not need a broker password in its configuration:

* the site CA is pinned (``ca_hash = "sha256:<hex>"``, what the LMS shows where enrolment tokens are made,
  like ``kubeadm join --discovery-token-ca-cert-hash``): before anything else the agent fetches the CA from
  ``<url>/api/enroll/ca`` and checks its fingerprint; a mismatch stops enrolment before the token is sent.
  From then on it trusts that CA only: the enrolment request goes over HTTPS verified against it (host name
  included), and so does the broker connection (``mqtt.tls``). Plain ``http://`` is accepted for a loopback
  LMS only;
* at start, if ``state_dir/credentials.json`` is missing (or unreadable, or made under another CA), the
  agent ``POST``s ``{token, agent_id, hostname}`` to ``<url>/api/enroll`` and stores the answer atomically
  (mode 0600) beside the CA (``site-ca.pem``); the agent id stays the configured one, so the identity is
  stable across restarts and re-enrolments;
* the token comes from the environment variable ``CLASSTOP_ENROLL_TOKEN`` or from ``enroll.token_file``;
* an LMS that cannot be reached (or answers 5xx) is retried with backoff until the agent is stopped; a
  refused token (4xx), a CA that does not match ``ca_hash`` and an LMS whose certificate the pinned CA did
  not sign are start-up errors that say why;
* later, if the broker refuses the stored credentials (revoked, or the broker's database was reset), the
  agent re-enrols **once** when a token is available; otherwise it keeps reconnecting with backoff and says
  clearly in its log what is wrong.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import socket
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.agent import config_checks
from edge.agent.credentials import (
    CA_FILE,
    CREDENTIALS_FILE,
    Credentials,
    load_credentials,
    save_credentials,
    trusted_hashes,
)
from shared import fingerprint
from shared.backoff import Backoff
from shared.files import write_atomic
from shared.mqtt import is_loopback
from shared.periodic import Periodic

if TYPE_CHECKING:
    from edge.agent.config_structs import EnrolmentSettings

log = logging.getLogger(__name__)

TOKEN_ENV = config_checks.TOKEN_ENV
MAX_ANSWER_BYTES = 64 * 1024
CA_PATH = "/api/enroll/ca"


class EnrolmentError(Exception):
    """Enrolment failed. ``retryable`` is False when asking again cannot help (the token was refused)."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


def _answer(mqtt: Any) -> Any:
    """The LMS's ``mqtt`` answer, checked (pydantic, loaded only when enrolling: rare); ``ValueError`` if bad."""
    from pydantic import BaseModel, ConfigDict, Field

    class Answer(BaseModel):
        model_config = ConfigDict(extra="ignore")

        host: str = Field(min_length=1, max_length=255)
        port: int = Field(ge=1, le=65535)
        username: str = Field(min_length=1, max_length=128)
        password: str = Field(min_length=1, max_length=512)
        tls: bool = False

    return Answer.model_validate(mqtt)  # pydantic's ValidationError is a ValueError


class Enroller:
    """Gets and keeps this agent's broker credentials (see the module docstring)."""

    def __init__(
        self, settings: EnrolmentSettings, agent_id: str, state_dir: Path, *, env: Mapping[str, str] | None = None
    ) -> None:
        self.settings = settings
        self.agent_id = agent_id
        self.path = state_dir / CREDENTIALS_FILE
        self.ca_path = state_dir / CA_FILE
        self._env = os.environ if env is None else env

    @property
    def base_url(self) -> str:
        return self.settings.url.rstrip("/")

    def token(self) -> str | None:
        token = self._env.get(TOKEN_ENV, "").strip()
        if token:
            return token
        if self.settings.token_file is not None:
            try:
                lines = self.settings.token_file.read_text(encoding="utf-8").strip().splitlines()
            except OSError as exc:
                log.warning("enrolment: cannot read enroll.token_file %s: %s", self.settings.token_file, exc)
                return None
            return lines[0].strip() if lines and lines[0].strip() else None
        return None

    def fetch_ca(self) -> str:
        """The site CA from the LMS, checked against ``ca_hash``; returns its PEM. Nothing secret is sent."""
        url = self.base_url + CA_PATH
        ca_pem = fetch_site_ca(self.base_url, self.settings.timeout_s)
        got = fingerprint.of_pem(ca_pem)
        trusted = trusted_hashes(self.path.parent, self.settings.ca_hash)  # the configured CA, or its successors
        if not any(hmac.compare_digest(got, pin) for pin in sorted(trusted)):
            raise EnrolmentError(
                f"the site CA from {url} has fingerprint {got}, not the configured enroll.ca_hash "
                f"{self.settings.ca_hash}: not enrolling, the token was not sent (is {self.base_url} really your "
                "LMS? compare with the fingerprint the LMS shows where enrolment tokens are made)",
                retryable=False,
            )
        return ca_pem

    def enrol(self) -> Credentials:
        """One enrolment; stores and returns the credentials. Raises :class:`EnrolmentError`."""
        token = self.token()
        if token is None:
            raise EnrolmentError(
                f"no broker credentials in {self.path} and no enrolment token: set {TOKEN_ENV} or enroll.token_file",
                retryable=False,
            )
        ca_pem = self.fetch_ca()
        pinned = ssl.create_default_context(cadata=ca_pem)  # this CA only, host name checked
        url = self.base_url + "/api/enroll"
        body = json.dumps({"token": token, "agent_id": self.agent_id, "hostname": socket.gethostname()[:255]})
        request = urllib.request.Request(
            url, data=body.encode(), method="POST", headers={"Content-Type": "application/json"}
        )
        creds = self._parse(self._request(request, url, pinned), url)
        write_atomic(self.ca_path, ca_pem, mode=0o644)  # before the credentials that name it
        save_credentials(self.path, creds)
        log.info(
            "enrolment: agent %s enrolled with %s (site CA %s); broker %s://%s:%d", self.agent_id, url,
            self.settings.ca_hash, "mqtts" if creds.tls else "mqtt", creds.host, creds.port,
        )  # fmt: skip
        return creds

    def _request(self, request: urllib.request.Request, url: str, context: ssl.SSLContext) -> bytes:
        return http_request(request, url, context, self.settings.timeout_s, pinned=self.settings.ca_hash)

    def _parse(self, raw: bytes, url: str) -> Credentials:
        try:
            if len(raw) > MAX_ANSWER_BYTES:
                raise ValueError("answer too large")
            data: Any = json.loads(raw)
            payload = data.get("data", data) if isinstance(data, dict) else None
            agent_id = payload.get("agent_id") if isinstance(payload, dict) else None
            answer = _answer(payload.get("mqtt") if isinstance(payload, dict) else None)
        except ValueError as exc:
            raise EnrolmentError(f"the LMS at {url} gave an unusable answer: {exc}", retryable=True) from None
        if agent_id != self.agent_id:
            raise EnrolmentError(
                f"the LMS at {url} enrolled agent {agent_id!r}, not {self.agent_id!r}", retryable=False
            )
        if not answer.tls and not is_loopback(answer.host):
            raise EnrolmentError(
                f"the LMS at {url} offered plain MQTT to {answer.host}: refusing to send the broker password in "
                "clear (the site broker's LAN listener is TLS)",
                retryable=False,
            )
        return Credentials(
            self.agent_id, answer.host, answer.port, answer.username, answer.password, time.time(), answer.tls,
            self.settings.ca_hash,
        )  # fmt: skip

    def ensure(self, stop: threading.Event) -> Credentials | None:
        """Stored credentials, or enrol (retrying while the LMS is away). None if stopped first."""
        stored = load_credentials(self.path, self.agent_id, self.settings.ca_hash)
        if stored is not None:
            return stored
        return self.enrol_retrying(stop)

    def enrol_retrying(self, stop: threading.Event) -> Credentials | None:
        backoff = Backoff(self.settings.retry_min_s, self.settings.retry_max_s)
        while not stop.is_set():
            try:
                return self.enrol()
            except EnrolmentError as exc:
                if not exc.retryable:
                    raise
                delay = backoff.next()
                log.warning("enrolment: %s; retrying in %.1f s", exc.message, delay)
                stop.wait(delay)
        return None


class RefusalWatch:
    """Re-enrols once when the broker refuses this agent's credentials; otherwise says why it cannot connect.

    Looks at the refusal count every ``period_s`` (:class:`Periodic`); a refusal before the watch started counts
    too."""

    def __init__(
        self,
        enroller: Enroller,
        refused: Callable[[], int],
        on_credentials: Callable[[Credentials], None],
        *,
        period_s: float = 0.5,
        fall_back: Callable[[], bool] | None = None,
    ) -> None:
        self._enroller = enroller
        self._refused = refused
        self._on_credentials = on_credentials
        self._fall_back = fall_back  # a rotated password the broker refuses: the previous one, once
        self._stopping = threading.Event()  # also ends a re-enrolment that waits for the LMS
        self._periodic = Periodic("agent-enrol-watch", self.check, period_s, run_at_start=False, join_timeout_s=5.0)
        self._seen = 0
        self._told = False
        self.reenrolled = False

    def start(self) -> RefusalWatch:
        self._periodic.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._periodic.stop()

    def check(self) -> None:
        """One look at the refusal count: re-enrol (once) on a new refusal, or say why not (once)."""
        refused = self._refused()
        if refused <= self._seen:
            return
        self._seen = refused
        if self._fall_back is not None and self._fall_back():
            return
        if self.reenrolled or self._enroller.token() is None:
            if not self._told:
                self._told = True
                log.error(
                    "enrolment: the broker refuses agent %s's credentials (revoked?) and %s; retrying with "
                    "backoff — enrol this agent again (%s) to recover",
                    self._enroller.agent_id,
                    "it has re-enrolled once already" if self.reenrolled else "there is no enrolment token",
                    TOKEN_ENV,
                )
            return
        self.reenrolled = True
        log.warning("enrolment: the broker refuses agent %s's credentials: re-enrolling", self._enroller.agent_id)
        try:
            creds = self._enroller.enrol_retrying(self._stopping)
        except EnrolmentError as exc:
            log.error("enrolment: re-enrolment failed: %s", exc.message)
            return
        if creds is not None:
            self._on_credentials(creds)


def fetch_site_ca(base_url: str, timeout_s: float) -> str:
    """The site CA's PEM (its first certificate, exactly the bytes to check) from ``<base_url>/api/enroll/ca``.

    The certificate of this first connection cannot be verified yet (the CA is what it fetches): what makes the
    answer trustworthy is the caller's fingerprint check, and every later connection is verified against it.
    Nothing secret is sent. Raises :class:`EnrolmentError`."""
    url = base_url.rstrip("/") + CA_PATH
    unverified = ssl.create_default_context()
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE
    raw = http_request(urllib.request.Request(url, method="GET"), url, unverified, timeout_s)
    try:
        der = fingerprint.first_certificate(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise EnrolmentError(f"the LMS at {url} sent no usable CA certificate: {exc}", retryable=True) from None
    return fingerprint.to_pem(der)


def http_request(
    request: urllib.request.Request, url: str, context: ssl.SSLContext, timeout_s: float, *, pinned: str = ""
) -> bytes:
    """One bounded HTTP(S) exchange; every failure an :class:`EnrolmentError` that says why (a certificate the
    ``pinned`` site CA did not sign is not retryable)."""
    try:
        with urllib.request.urlopen(request, timeout=timeout_s, context=context) as reply:
            raw: bytes = reply.read(MAX_ANSWER_BYTES + 1)
            return raw
    except urllib.error.HTTPError as exc:
        reason = _error_text(exc)
        retryable = exc.code >= 500 or exc.code == 429
        raise EnrolmentError(f"the LMS at {url} refused enrolment ({exc.code}): {reason}", retryable=retryable) \
            from None
    except (urllib.error.URLError, OSError) as exc:
        why: object = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        if isinstance(why, ssl.SSLCertVerificationError):
            raise EnrolmentError(
                f"the LMS at {url} is not certified by the pinned site CA {pinned} "
                f"({why.verify_message}): not enrolling, the token was not sent",
                retryable=False,
            ) from None
        raise EnrolmentError(f"cannot reach the LMS at {url}: {why}", retryable=True) from None


def _error_text(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read(MAX_ANSWER_BYTES))
        if isinstance(body, dict):
            return str(body.get("error") or body.get("detail") or body)
    except (ValueError, OSError):
        pass
    return str(exc.reason)
