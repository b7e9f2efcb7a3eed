"""Issue 19, "Rotate", piece by piece: a forced rotation, expiry warnings of every site certificate (log, event,
once a day), the CLI's ``tls rotate``/``tls status``, API token rotation, and the agent's side of a CA rotation
(it accepts a new CA set only if it continues from one it trusts)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from pydantic import BaseModel

from edge.agent.commands import CommandFailed
from edge.agent.credentials import CA_FILE, Credentials, load_credentials, save_credentials, trusted_hashes
from edge.agent.site_trust import SiteTrust
from edge.lms.auth import AuthError, Tokens
from edge.lms.auth.tokens import UnknownToken
from edge.lms.config import parse_config
from edge.lms.store import Store
from edge.lms.tls import CertificateWatch, SiteCa, SiteTls, TlsFiles
from edge.lms.tls.certificate_watch import EXPIRING, LMS_EVENT_SOURCE
from shared import fingerprint
from shared.commands import (
    RotateBrokerPasswordParams,
    TrustSiteCaParams,
    get_spec,
    loggable_params,
    validate_params,
)
from shared.errors import CommandError, ErrorCode
from shared.messages import Command, Event
from tests.fixtures.clock import Clock

DAY = 86400.0
ENV = {"CLASSTOP_LMS_BROKER_PASSWORD": "pw"}
REPO = Path(__file__).resolve().parents[3]


def _site(tmp_path: Path, clock: Clock, **site_tls: Any) -> SiteTls:
    cfg = parse_config({"tenant": "demo", "site_id": "s1", "site_tls": site_tls}, base_dir=tmp_path, env=ENV)
    return SiteTls(cfg, clock=clock)


def test_a_rotation_issues_new_keys_under_the_same_ca_and_the_watch_hands_them_over(tmp_path: Path) -> None:
    clock = Clock(1_900_000_000.0)
    site = _site(tmp_path, clock)
    first = site.ensure()
    handed: list[TlsFiles] = []
    watch = CertificateWatch(site, on_renewed=handed.append, clock=clock)
    watch.check()
    assert handed == []  # nothing new: nothing handed over
    rotated = watch.rotate()
    assert handed == [rotated] and rotated.fingerprint == first.fingerprint
    assert rotated.lms.serial != first.lms.serial and rotated.broker.serial != first.broker.serial
    assert rotated.lms.renewed == "rotated on demand"
    assert first.lms.key_file.read_bytes() != b"" and rotated.lms.not_after > clock.now
    # a rotation made by another process (the CLI) is noticed by its serial at the next check
    SiteTls(site._cfg, clock=clock).rotate()
    watch.check()
    assert len(handed) == 2 and handed[1].lms.serial != rotated.lms.serial


def test_expiry_warnings_name_each_certificate_once_a_day_and_reach_the_events(tmp_path: Path) -> None:
    clock = Clock(1_900_000_000.0)
    site = _site(tmp_path, clock, cert_days=60, renew_before_days=5, warn_before_days=30)
    site.ensure()
    cloud_ca = SiteCa.open(tmp_path / "cloud", name="cloud", clock=clock)  # stands in for the site's cloud cert
    events: list[tuple[str, Event]] = []
    watch = CertificateWatch(site, on_renewed=lambda _f: None, cloud_cert=cloud_ca.cert_file, warn_before_days=30,
                             on_event=lambda a, e: events.append((a, e)), clock=clock)  # fmt: skip
    assert [c.name for c in watch.status()] == ["site_ca", "lms", "broker", "cloud"]
    assert watch.warn() == [] and events == []
    clock.now += 31 * DAY  # the server certificates have 29 days left (renewal is at 5)
    expiring = watch.warn()
    assert sorted(c.name for c in expiring) == ["broker", "lms"]
    assert {a for a, _ in events} == {LMS_EVENT_SOURCE} and {e.kind for _, e in events} == {EXPIRING}
    assert all(e.severity.value == "warning" and "rotate it" in e.message for _, e in events)
    watch.warn()
    assert len(events) == 2  # once a day
    clock.now += DAY
    watch.warn()
    assert len(events) == 4
    # an unreadable cloud certificate is a warning too
    cloud_ca.cert_file.write_text("garbage")
    assert "cloud" in {c.name for c in watch.warn()}


def _lms_cli(tmp_path: Path, *args: str, extra: str = "") -> subprocess.CompletedProcess[str]:
    config = tmp_path / "lms.toml"
    config.write_text(f'tenant = "demo"\nsite_id = "s1"\ndb_path = "lms.db"\n{extra}')
    return subprocess.run([sys.executable, "-m", "edge.lms", "--config", str(config), *args], cwd=REPO,
                          env={"PYTHONPATH": str(REPO), **ENV, "PATH": "/usr/bin:/bin"}, capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip


def test_cli_tls_rotate_and_status(tmp_path: Path) -> None:
    made = _lms_cli(tmp_path, "tls")
    assert made.returncode == 0, made.stderr
    before = (tmp_path / "site-ca" / "lms.crt").read_bytes()
    rotated = _lms_cli(tmp_path, "tls", "rotate")
    assert rotated.returncode == 0 and rotated.stdout == made.stdout  # the same CA: the same fingerprint
    assert "issued now (rotated on demand)" in rotated.stderr
    assert (tmp_path / "site-ca" / "lms.crt").read_bytes() != before
    status = _lms_cli(tmp_path, "tls", "status")
    assert status.returncode == 0 and [line.split("\t")[0] for line in status.stdout.splitlines()] == [
        "site_ca", "lms", "broker"]  # fmt: skip
    # certificates of 300 days with a 365-day warning window: warned (exit 3 for scripts and monitoring)
    short = "[site_tls]\nwarn_before_days = 365\ncert_days = 300\n"
    assert _lms_cli(tmp_path, "tls", "rotate", extra=short).returncode == 0
    warned = _lms_cli(tmp_path, "tls", "status", extra=short)
    assert warned.returncode == 4, warned.stdout + warned.stderr  # EXIT_EXPIRING (3 is a newer database)
    assert {line.split("\t")[0] for line in warned.stdout.splitlines() if "EXPIRING" in line} == {"lms", "broker"}


def test_api_token_rotation_keeps_name_and_role_and_the_old_until_revoked(tmp_path: Path) -> None:
    store = Store(tmp_path / "lms.db").open()
    try:
        tokens = Tokens(store)
        old_id, old = tokens.create("backup script", "operator")
        new_id, new = tokens.rotate(old_id)
        assert new != old and tokens.verify(old) is not None
        principal = tokens.verify(new)
        assert principal is not None and (principal.name, principal.role.label) == ("backup script", "operator")
        tokens.revoke(old_id)
        assert tokens.verify(old) is None and tokens.verify(new) is not None
        with pytest.raises(AuthError, match="revoked"):
            tokens.rotate(old_id)
        with pytest.raises(UnknownToken):
            tokens.rotate(4242)
        assert new_id != old_id
    finally:
        store.close()


# ---------------------------------------------------------------- the agent's side


def _agent(tmp_path: Path, ca: SiteCa) -> tuple[SiteTrust, mock.Mock]:
    state = tmp_path / "state"
    state.mkdir()
    (state / CA_FILE).write_text(ca.cert_pem)
    save_credentials(state / "credentials.json",
                     Credentials("room-1", "lms", 8883, "room-1", "old-password", 0.0, True, ca.fingerprint))
    client = mock.Mock()
    return SiteTrust("room-1", state, ca.fingerprint, client), client


def _run(handler: Any, name: str, params: dict[str, Any]) -> Any:
    model: BaseModel = validate_params(name, params)
    return handler(Command(request_id="r-1", command=name, params=params), model)


def test_the_agent_trusts_a_new_ca_only_in_continuation_of_one_it_trusts(tmp_path: Path) -> None:
    ca = SiteCa.open(tmp_path / "ca", name="site")
    nxt = SiteCa.open(tmp_path / "next", name="site next")
    rogue = SiteCa.open(tmp_path / "rogue", name="rogue")
    trust, client = _agent(tmp_path, ca)
    with pytest.raises(CommandFailed) as refused:
        _run(trust.trust_site_ca, "trust_site_ca", {"ca_pems": [rogue.cert_pem]})
    assert refused.value.code is ErrorCode.REJECTED_BY_POLICY
    leaf, _key = ca.issue("lms", ["lms"], days=10)  # a server certificate is no CA
    with pytest.raises(CommandFailed, match="not a CA"):
        _run(trust.trust_site_ca, "trust_site_ca", {"ca_pems": [ca.cert_pem, leaf.decode()]})
    assert (trust.state_dir / CA_FILE).read_text() == ca.cert_pem and not client.trust_ca.called
    # the overlap, then the retirement: each step continues from the last
    assert _run(trust.trust_site_ca, "trust_site_ca", {"ca_pems": [ca.cert_pem, nxt.cert_pem]})["trusted"] == [
        ca.fingerprint, nxt.fingerprint]  # fmt: skip
    client.trust_ca.assert_called_with(trust.state_dir / CA_FILE)
    _run(trust.trust_site_ca, "trust_site_ca", {"ca_pems": [nxt.cert_pem]})
    assert trusted_hashes(trust.state_dir, ca.fingerprint) == {nxt.fingerprint}
    # the configuration still names the old CA: the stored credentials stay valid (no re-enrolment)
    assert load_credentials(trust.state_dir / "credentials.json", "room-1", ca.fingerprint) is not None
    # ... and a configuration naming another CA altogether wins over the record
    assert trusted_hashes(trust.state_dir, rogue.fingerprint) == {rogue.fingerprint}
    assert load_credentials(trust.state_dir / "credentials.json", "room-1", rogue.fingerprint) is None
    # the old CA is no longer trusted: a set of it alone is refused now
    with pytest.raises(CommandFailed):
        _run(trust.trust_site_ca, "trust_site_ca", {"ca_pems": [ca.cert_pem]})
    assert fingerprint.of_pem((trust.state_dir / CA_FILE).read_text()) == nxt.fingerprint


def test_the_agent_stores_a_rotated_password_and_falls_back_once(tmp_path: Path) -> None:
    ca = SiteCa.open(tmp_path / "ca", name="site")
    trust, client = _agent(tmp_path, ca)
    assert _run(trust.rotate_broker_password, "rotate_broker_password", {"password": "n" * 32}) == {"stored": True}
    stored = json.loads((trust.state_dir / "credentials.json").read_text())
    assert (stored["password"], stored["previous_password"]) == ("n" * 32, "old-password")
    client.set_credentials.assert_called_with("room-1", "n" * 32)
    assert trust.fall_back() is True  # the broker refused the new one: back to the previous, once
    client.set_credentials.assert_called_with("room-1", "old-password")
    assert trust.fall_back() is False


def test_rotation_commands_are_lms_only_validated_and_their_secrets_hidden() -> None:
    with pytest.raises(CommandError):
        validate_params("rotate_broker_password", {"password": "short"})
    with pytest.raises(CommandError):
        validate_params("trust_site_ca", {"ca_pems": ["not a pem"]})
    with pytest.raises(CommandError):
        validate_params("trust_site_ca", {"ca_pems": []})
    assert isinstance(validate_params("rotate_broker_password", {"password": "p" * 20}), RotateBrokerPasswordParams)
    assert get_spec("trust_site_ca").params is TrustSiteCaParams  # the model both ends use
    assert loggable_params("rotate_broker_password", {"password": "secret"}) == {"password": "<hidden>"}
    assert loggable_params("ping", {"a": 1}) == {"a": 1}


def test_site_heartbeats_carry_the_expiring_certificates(tmp_path: Path) -> None:
    from edge.lms.cloud.site_heartbeats import build_heartbeats
    from shared.messages import SiteHeartbeat, decode

    clock = Clock(1_900_000_000.0)
    site = _site(tmp_path, clock, cert_days=60, renew_before_days=5, warn_before_days=30)
    site.ensure()
    watch = CertificateWatch(site, on_renewed=lambda _f: None, warn_before_days=30, clock=clock)
    assert watch.expiring() == []
    clock.now += 31 * DAY
    [payload] = build_heartbeats([], full=True, lms_version="1", expiring=watch.expiring())
    beat = decode(SiteHeartbeat, payload)
    assert beat.certificates_expiring == ["lms", "broker"]
    [older] = build_heartbeats([], full=True, lms_version="1")
    assert decode(SiteHeartbeat, older).certificates_expiring is None  # an LMS without a watch reports nothing
