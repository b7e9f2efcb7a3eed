"""``classtop-agent enrol <url> <token>``: point this agent at its LMS, with the site CA pinned.

What it does, in order (nothing is written and the token goes nowhere until every check passed):

1. fetches the site CA from ``<url>/api/enroll/ca`` (:func:`edge.agent.enrolment.fetch_site_ca`; nothing secret
   is sent) and shows its fingerprint;
2. checks it: against ``--ca-hash`` when given (a mismatch refuses), else the person at the terminal compares it
   with the one the LMS shows where enrolment tokens are made and types ``yes`` (:func:`confirm`);
3. checks that the server at ``<url>`` holds a certificate of that CA for that host name
   (:func:`check_certified`): an impostor that hands out the genuine CA — it is public — is caught here;
4. writes the token to its file (0600, the service user's) and the config's ``[enroll]`` table
   (:func:`write_enroll`), checked by the agent's own config model first.

The token itself is sent by the agent when it starts (:class:`edge.agent.enrolment.Enroller`), over HTTPS
verified against the pinned CA only.
"""

from __future__ import annotations

import hmac
import json
import os
import re
import ssl
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

from edge.agent.config import ConfigError, parse_config
from edge.agent.config_models import EnrolmentSettings
from edge.agent.enrolment import EnrolmentError, fetch_site_ca
from shared import fingerprint
from shared.files import write_atomic

#: where an operator finds the fingerprint to compare (said at the prompt and in refusals)
WHERE_SHOWN = (
    "the LMS shows it where enrolment tokens are made (the `ca_hash` of POST /api/enrollment-tokens), and its "
    "container's `site-tls` step prints it"
)
_TABLE_RE = re.compile(r"^\s*\[\s*([A-Za-z0-9_.\"' -]+?)\s*\]\s*(#.*)?$")


class SetupError(Exception):
    """Enrolment set-up refused or failed; nothing was written. ``code`` is the exit status (1, or 2 for input)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def site_ca(settings: EnrolmentSettings) -> tuple[str, str]:
    """The LMS's site CA (PEM) and its fingerprint."""
    try:
        pem = fetch_site_ca(settings.url, settings.timeout_s)
    except EnrolmentError as exc:
        raise SetupError(exc.message) from None
    return pem, fingerprint.of_pem(pem)


def check_pin(shown: str, expected: str, url: str) -> None:
    """Refuse when the CA the LMS sent is not the one ``--ca-hash`` names."""
    if not hmac.compare_digest(shown, fingerprint.normalise(expected)):
        raise SetupError(
            f"the site CA from {url} has fingerprint {shown}, not --ca-hash {fingerprint.normalise(expected)}: "
            f"not enrolled, nothing written, the token was not sent (is {url} really your LMS? {WHERE_SHOWN})"
        )


def confirm(shown: str, ask: Callable[[str], str]) -> None:
    """The person at the terminal compares ``shown`` with the LMS's and types ``yes``; anything else refuses."""
    answer = ask(
        f"Compare it with the site CA fingerprint of your LMS ({WHERE_SHOWN}).\n"
        "Is it the same? Type yes to trust this CA: "
    )
    if answer.strip().lower() != "yes":
        raise SetupError("not confirmed: not enrolled, nothing written, the token was not sent")


def check_certified(settings: EnrolmentSettings, ca_pem: str) -> None:
    """The server at ``settings.url`` proves it holds a certificate of that CA for its host name (a loopback
    ``http://`` LMS has no certificate to check)."""
    if urllib.parse.urlsplit(settings.url).scheme != "https":
        return
    url = settings.url.rstrip("/") + "/api/health"
    context = ssl.create_default_context(cadata=ca_pem)  # this CA only, host name checked
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="GET"), timeout=settings.timeout_s,
                                    context=context):  # fmt: skip
            return
    except urllib.error.HTTPError:
        return  # an HTTP answer over the verified connection: the server holds the CA's certificate
    except (urllib.error.URLError, OSError) as exc:
        why: object = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        if isinstance(why, ssl.SSLCertVerificationError):
            raise SetupError(
                f"the server at {settings.url} is not certified by that site CA ({why.verify_message}): it is not "
                "your LMS, or not under this name; not enrolled, nothing written, the token was not sent"
            ) from None
        raise SetupError(f"cannot reach {url}: {why}") from None


def without_enroll(text: str) -> str:
    """``text`` (TOML) without its ``[enroll]`` table (header to the next table header)."""
    out: list[str] = []
    skipping = False
    for line in text.splitlines(keepends=True):
        match = _TABLE_RE.match(line)
        if match:
            skipping = match.group(1).strip() == "enroll"
        if not skipping:
            out.append(line)
    return "".join(out)


def enroll_table(settings: EnrolmentSettings, token_file: Path) -> str:
    """The ``[enroll]`` table (strings written as JSON strings, which TOML reads alike)."""
    return (
        "\n[enroll]               # written by `classtop-agent enrol`: the agent enrols with this LMS when it starts\n"
        f"url = {json.dumps(settings.url)}\n"
        f"ca_hash = {json.dumps(settings.ca_hash)}   # the site CA, pinned\n"
        f"token_file = {json.dumps(str(token_file))}\n"
    )


def write_enroll(config: Path, settings: EnrolmentSettings, token: str, token_file: Path,
                 chown: Callable[[Path], None]) -> None:  # fmt: skip
    """Write the token file (0600, given to the service user by ``chown``) and ``config`` with the new ``[enroll]``
    (atomically, keeping its mode and owners); the new file is validated by the agent's config model before anything is
    written."""
    try:
        old = config.read_text(encoding="utf-8")
        before = config.stat()
    except OSError as exc:
        raise SetupError(f"cannot read {config}: {exc} (run `classtop-agent install` first)", code=2) from None
    new = without_enroll(old).rstrip("\n") + "\n" + enroll_table(settings, token_file)
    try:
        parsed = parse_config(tomllib.loads(new), base=config.absolute().parent, source=str(config))
    except tomllib.TOMLDecodeError as exc:
        raise SetupError(f"{config}: not TOML ({exc}); fix it, then enrol again", code=2) from None
    except ConfigError as exc:
        raise SetupError(f"{exc}; fix it, then enrol again", code=2) from None
    if parsed.enroll is None or parsed.enroll.url != settings.url:
        raise SetupError(f"{config}: its [enroll] could not be replaced (an inline `enroll = ...`?)", code=2)
    try:
        previous: bytes | None = token_file.read_bytes()
    except FileNotFoundError:
        previous = None
    except OSError as exc:
        raise SetupError(f"cannot read {token_file}: {exc}") from None
    try:
        write_atomic(token_file, token + "\n", mode=0o600)
        chown(token_file)
        write_atomic(config, new, mode=before.st_mode & 0o777)
        if os.geteuid() == 0:  # keep root:<service group>, so the service can still read it
            os.chown(config, before.st_uid, before.st_gid)
    except OSError as exc:  # put the token file back as it was: nothing half-written
        if previous is None:
            token_file.unlink(missing_ok=True)
        else:
            write_atomic(token_file, previous, mode=0o600)
        raise SetupError(f"cannot write {config} or {token_file}: {exc}; nothing changed") from None
