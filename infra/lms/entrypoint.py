"""Entrypoint of the LMS container: ``python -m infra.lms.entrypoint [--dry-run]``.

1. **Enrolment** (once): when ``CLASSTOP_IOT_ENDPOINT`` is set and ``$CLASSTOP_DATA_DIR/certs`` holds no
   certificate yet, make the site's key pair here (EC P-256) and a CSR for it, register with the tenant's cloud API
   (``POST $CLASSTOP_CLOUD_API/api/lms/register`` with ``Authorization: Bearer $CLASSTOP_ENROLMENT_TOKEN`` and the
   CSR), check that the certificate returned is for that key, and keep the certificate beside the private key and
   the API key (files 0600). The private key never leaves this machine. An enrolment token works once: after a
   successful enrolment it can be removed. When the cloud cannot be reached or refuses, the site does not wait:
   the LMS runs site-only and the enrolment is retried with backoff (``infra/lms/site_only_run.py``); once it
   succeeds the LMS is restarted with the cloud.
2. **Configuration**: ``$CLASSTOP_DATA_DIR/lms.toml`` is written from the environment, and written again at
   every start where the environment (or the enrolment) now says something else — the file's first line marks
   it as the entrypoint's. A file without that line is the operator's own: it is kept, with a warning when the
   environment asks for the cloud and the file has no ``[cloud]`` table.
3. ``exec python -m edge.lms --config $CLASSTOP_DATA_DIR/lms.toml`` (``--dry-run`` enrols once and stops before,
   its exit code saying how the enrolment went; ``--site-tls`` runs ``python -m edge.lms ... tls`` instead: the
   site CA and the LMS's and broker's certificates, the compose file's one-shot step before the broker's first
   start — it never enrols, so a site with no internet still starts).

TLS on the school LAN: the LMS serves HTTPS on 8000 with a certificate of the site CA (kept in
``$CLASSTOP_DATA_DIR/site-ca``) and connects to the broker's TLS listener; the broker's certificate, key and
the CA certificate go to ``$CLASSTOP_BROKER_TLS_DIR`` (a volume the broker mounts read-only).

Environment (documented in docs/deploy.md): ``CLASSTOP_TENANT``, ``CLASSTOP_SITE_ID`` (required);
``CLASSTOP_STAGE`` (default ``dev``), ``CLASSTOP_SITE_NAME``, ``CLASSTOP_IOT_ENDPOINT``, ``CLASSTOP_CLOUD_API``,
``CLASSTOP_ENROLMENT_TOKEN``, ``CLASSTOP_LMS_ADVERTISE_HOST``, ``CLASSTOP_BROKER_HOST``, ``CLASSTOP_BROKER_PORT``,
``CLASSTOP_BROKER_TLS_DIR``, ``CLASSTOP_LMS_TLS_CERT_FILE`` and ``CLASSTOP_LMS_TLS_KEY_FILE`` (a certificate
ClassTop desktop clients trust, for the LMS's HTTPS, instead of the site CA's), ``CLASSTOP_IOT_CA_FILE`` (the CA
bundle that certifies the IoT endpoint when the system's store does not: a TLS-inspecting proxy, a stand-in),
``CLASSTOP_DATA_DIR``;
the LMS itself reads ``CLASSTOP_LMS_BROKER_PASSWORD``, ``CLASSTOP_LMS_DYNSEC_PASSWORD`` and
``CLASSTOP_LMS_ADMIN_TOKEN``.

Exit codes: 2 bad or missing environment, 1 enrolment failed (``--dry-run`` only; the message says why); otherwise
the LMS's.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import threading
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from infra.lms.site_only_run import EnrolmentFailed, SiteOnlyRun
from infra.local.toml_writer import dumps
from shared.backoff import Backoff
from shared.errors import TopicError
from shared.files import write_atomic
from shared.names import Namespace
from shared.topics import check_id, site_thing_name

EXIT_ENROLMENT, EXIT_CONFIG = 1, 2
HTTP_PORT = 8000
BROKER_TLS_PORT = 8883
CERT_FILE, KEY_FILE, API_KEY_FILE, ENROLMENT_FILE = "site.cert.pem", "site.private.key", "api-key", "enrolment.json"
ENROL_TIMEOUT_S = 30


class EntrypointError(Exception):
    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise EntrypointError(f"{name} is not set (see docs/deploy.md)", EXIT_CONFIG)
    return value


def _identity(env: Mapping[str, str]) -> tuple[Namespace, str]:
    """The tenant's stage (``CLASSTOP_TENANT``, ``CLASSTOP_STAGE``, default ``dev``) and ``CLASSTOP_SITE_ID``."""
    try:
        namespace = Namespace(_required(env, "CLASSTOP_TENANT"), env.get("CLASSTOP_STAGE", "").strip() or "dev")
        site_id = check_id(_required(env, "CLASSTOP_SITE_ID"), "site id")
    except TopicError as exc:
        raise EntrypointError(f"{exc}", EXIT_CONFIG) from None
    return namespace, site_id


def site_key_and_csr(thing_name: str) -> tuple[ec.EllipticCurvePrivateKey, str]:
    """A new EC P-256 key pair for the site and the PEM CSR (subject CN = the thing name) AWS IoT signs."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, thing_name)]))
           .sign(key, hashes.SHA256()))
    return key, csr.public_bytes(serialization.Encoding.PEM).decode()


def _private_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _certificate_for(key: ec.EllipticCurvePrivateKey, certificate_pem: str) -> bool:
    """Whether ``certificate_pem`` is one PEM certificate of ``key``'s public key."""
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
    except ValueError:
        return False
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return certificate.public_key().public_bytes(*spki) == key.public_key().public_bytes(*spki)


def enrolled(data_dir: Path) -> bool:
    certs = data_dir / "certs"
    return (certs / CERT_FILE).exists() and (certs / KEY_FILE).exists()


def enrolment_settings(env: Mapping[str, str]) -> tuple[Namespace, str, str, str]:
    """What enrolling needs (the stage, the site id, the cloud API's URL, the token), else exit 2."""
    namespace, site_id = _identity(env)
    api = _required(env, "CLASSTOP_CLOUD_API").rstrip("/")
    if not api.startswith(("https://", "http://")):
        raise EntrypointError(f"CLASSTOP_CLOUD_API: not an http(s) URL: {api!r}", EXIT_CONFIG)
    return namespace, site_id, api, _required(env, "CLASSTOP_ENROLMENT_TOKEN")


def enrol(env: Mapping[str, str], data_dir: Path) -> dict[str, Any] | None:
    """Register with the cloud once; ``None`` when there is nothing to do (site-only, or already enrolled)."""
    if not env.get("CLASSTOP_IOT_ENDPOINT", "").strip():
        return None
    if enrolled(data_dir):
        return None
    certs = data_dir / "certs"
    namespace, site_id, api, token = enrolment_settings(env)
    from edge.lms import __version__

    key, csr = site_key_and_csr(site_thing_name(namespace, site_id))
    body = {
        "lms_uuid": site_id,
        "name": env.get("CLASSTOP_SITE_NAME", "").strip() or site_id,
        "host": env.get("CLASSTOP_LMS_ADVERTISE_HOST", "").strip() or socket.gethostname(),
        "port": HTTP_PORT,
        "version": __version__,
        "csr": csr,
    }
    request = urllib.request.Request(
        f"{api}/api/lms/register", data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=ENROL_TIMEOUT_S) as response:
            answer = json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:500].decode(errors="replace")
        what = "unavailable at" if exc.code >= 500 else "refused by"
        raise EntrypointError(f"enrolment {what} {api} (HTTP {exc.code}): {detail}", EXIT_ENROLMENT) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise EntrypointError(f"enrolment failed: cannot reach {api}: {exc}", EXIT_ENROLMENT) from None
    data = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(data, dict) or not data.get("certificate_pem"):
        raise EntrypointError(f"enrolment: {api} returned no certificate (is the token an enrolment token?)",
                              EXIT_ENROLMENT)
    if data.get("site_id") != site_id or data.get("thing_name") != site_thing_name(namespace, site_id):
        raise EntrypointError(f"enrolment: the token is for site {data.get('site_id')!r}, not {site_id!r}: set "
                              "CLASSTOP_SITE_ID to the token's site", EXIT_CONFIG)
    if not _certificate_for(key, str(data["certificate_pem"])):
        raise EntrypointError(f"enrolment: {api} returned a certificate that is not for the key made here",
                              EXIT_ENROLMENT)
    certs.mkdir(parents=True, exist_ok=True)
    write_atomic(certs / KEY_FILE, _private_pem(key))
    write_atomic(certs / API_KEY_FILE, str(data.get("api_key", "")))
    meta = {k: data.get(k) for k in ("site_id", "thing_name", "certificate_id", "certificate_arn", "approval")}
    write_atomic(certs / ENROLMENT_FILE, json.dumps(meta, indent=2))
    write_atomic(certs / CERT_FILE, str(data["certificate_pem"]))  # last: its presence means "enrolled"
    return meta


def config(env: Mapping[str, str], data_dir: Path) -> dict[str, Any]:
    """The LMS configuration (``lms.toml``) the environment describes (with the cloud once enrolled)."""
    namespace, site_id = _identity(env)
    try:
        broker_port = int(env.get("CLASSTOP_BROKER_PORT", str(BROKER_TLS_PORT)))
    except ValueError:
        raise EntrypointError("CLASSTOP_BROKER_PORT: not a number", EXIT_CONFIG) from None
    advertise = env.get("CLASSTOP_LMS_ADVERTISE_HOST", "").strip()
    dynsec: dict[str, Any] = {"username": "dynsec-admin", "advertise_port": BROKER_TLS_PORT}
    if advertise:
        dynsec["advertise_host"] = advertise  # agents reach the broker where they reach this mini-PC
    result: dict[str, Any] = {
        "tenant": namespace.tenant,
        "stage": namespace.stage,
        "site_id": site_id,
        "db_path": str(data_dir / "lms.db"),
        "http_host": "0.0.0.0",  # published by the container runtime; HTTPS with the site CA's certificate
        "http_port": HTTP_PORT,
        "site_tls": {
            "broker_dir": env.get("CLASSTOP_BROKER_TLS_DIR", "").strip() or str(data_dir / "broker-tls"),
            "hosts": [advertise] if advertise else [],
        },
        "site_broker": {
            "host": env.get("CLASSTOP_BROKER_HOST", "").strip() or "mosquitto",
            "port": broker_port,
            "client_id": "lms",
            "username": "lms",
            "tls": {},  # the broker's TLS listener, verified against the site CA
            "dynsec": dynsec,
        },
    }
    cert_file = env.get("CLASSTOP_LMS_TLS_CERT_FILE", "").strip()
    key_file = env.get("CLASSTOP_LMS_TLS_KEY_FILE", "").strip()
    if bool(cert_file) != bool(key_file):
        raise EntrypointError("CLASSTOP_LMS_TLS_CERT_FILE and CLASSTOP_LMS_TLS_KEY_FILE go together", EXIT_CONFIG)
    if cert_file:
        result.update(tls_cert_file=cert_file, tls_key_file=key_file)
    endpoint = env.get("CLASSTOP_IOT_ENDPOINT", "").strip()
    if endpoint and enrolled(data_dir):
        certs = data_dir / "certs"
        tls = {"cert_file": str(certs / CERT_FILE), "key_file": str(certs / KEY_FILE)}
        ca_file = env.get("CLASSTOP_IOT_CA_FILE", "").strip()
        if ca_file:  # else the system's store, which has Amazon's root CAs
            tls["ca_file"] = ca_file
        result["cloud"] = {"host": endpoint, "port": 8883, "tls": tls}
    return result


MARKER = "# written by infra/lms/entrypoint.py from the environment"
HEADER = (f"{MARKER}; written again when the environment changes.\n"
          "# To keep your own edits, delete these two lines: the file is then yours and never rewritten.\n")


def write_config(env: Mapping[str, str], data_dir: Path) -> Path:
    """Write ``lms.toml`` from the environment unless it is the operator's own (no marker line); return its path.

    Says what happened: written, rewritten (the environment or the enrolment changed it), or kept as the
    operator's — with a warning when the environment asks for the cloud and that file has no ``[cloud]``."""
    path = data_dir / "lms.toml"
    text = HEADER + dumps(config(env, data_dir))
    if not path.exists():
        write_atomic(path, text)
        return path
    current = path.read_text(errors="replace")
    if not current.startswith(MARKER):
        if env.get("CLASSTOP_IOT_ENDPOINT", "").strip() and "cloud" not in _tables(current):
            _say(f"warning: {path} is your own file (no marker line) and has no [cloud] table: the LMS stays "
                 "site-only although CLASSTOP_IOT_ENDPOINT is set. Add [cloud] (docs/deploy.md) or delete the file "
                 "to have it written from the environment.")
        return path
    if current != text:
        write_atomic(path, text)
        _say(f"{path} written again: the environment or the enrolment changed it")
    return path


def _tables(text: str) -> set[str]:
    try:
        return set(tomllib.loads(text))
    except tomllib.TOMLDecodeError:
        return set()  # the LMS's own validation will say what is wrong with it


def _say(message: str) -> None:
    print(f"entrypoint: {message}", file=sys.stderr, flush=True)


def _data_dir(env: Mapping[str, str]) -> Path:
    data_dir = Path(env.get("CLASSTOP_DATA_DIR", "/data"))
    if not data_dir.is_dir():
        raise EntrypointError(f"CLASSTOP_DATA_DIR {data_dir} is not a directory (mount the data volume)", EXIT_CONFIG)
    return data_dir


def _enrol_and_say(env: Mapping[str, str], data_dir: Path) -> None:
    meta = enrol(env, data_dir)
    if meta is not None:
        _say(f"enrolled as {meta['thing_name']} (certificate {meta['certificate_id']})")


def _attempt(env: Mapping[str, str], data_dir: Path) -> Callable[[], None]:
    """One enrolment attempt for :class:`SiteOnlyRun`: any refusal is a failure to retry."""

    def attempt() -> None:
        try:
            _enrol_and_say(env, data_dir)
        except EntrypointError as exc:
            raise EnrolmentFailed(exc.message) from None

    return attempt


def _lms_argv(path: Path) -> list[str]:
    return [sys.executable, "-m", "edge.lms", "--config", str(path)]


def run(env: Mapping[str, str], *, dry_run: bool = False, site_tls: bool = False,
        stop: threading.Event | None = None, retry: Backoff | None = None,
        lms_command: Callable[[Path], list[str]] = _lms_argv) -> int | list[str]:
    """Prepare, then the exit code to end with or the LMS's command line to ``exec`` (``lms_command(path)``).

    While the site cannot join the cloud it runs ``lms_command`` site-only and retries (``retry``)."""
    data_dir = _data_dir(env)
    if site_tls:  # before the broker's first start: the site CA needs no cloud
        return [*lms_command(write_config(env, data_dir)), "tls"]
    joining = bool(env.get("CLASSTOP_IOT_ENDPOINT", "").strip()) and not enrolled(data_dir)
    if dry_run or not joining:
        _enrol_and_say(env, data_dir)  # dry run: one attempt, its failure is the exit code
        path = write_config(env, data_dir)
        if dry_run:
            print(path)
            return 0
        return lms_command(path)
    enrolment_settings(env)  # a missing setting is exit 2, not something to retry
    try:
        _enrol_and_say(env, data_dir)
    except EntrypointError as exc:
        _say(f"enrolment failed: {exc.message}")
        path = write_config(env, data_dir)  # site-only for now
        site_only = SiteOnlyRun(lms_command(path), _attempt(env, data_dir), stop=stop or threading.Event())
        if retry is not None:
            site_only.backoff = retry
        code = site_only.run()
        if code is not None:
            return code
    return lms_command(write_config(env, data_dir))


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.lms.entrypoint")
    parser.add_argument("--dry-run", action="store_true", help="enrol once and write lms.toml, do not start the LMS")
    parser.add_argument("--site-tls", action="store_true",
                        help="then make the site CA and the certificates (edge.lms ... tls) instead of the LMS")
    args = parser.parse_args(argv)
    stop = threading.Event()
    if not args.dry_run and threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    try:
        outcome = run(os.environ if env is None else env, dry_run=args.dry_run, site_tls=args.site_tls, stop=stop)
    except EntrypointError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    if isinstance(outcome, int):
        return outcome
    os.execv(outcome[0], outcome)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
