"""The role matrix: every route x every kind of caller (none, a site API key, viewer, operator, admin) gives the
answer its declaration documents (``chalicelib.api.ROUTES``, ``chalicelib.api.routes``), and every mutating call
leaves exactly one audit entry.

The scope matrix adds the site dimension: every route x every role of a token scoped to sites x a target inside
those sites and one outside them, against the route's documented :class:`Scope`."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from alert_testkit import agent_record, site_alerts
from app import app

from chalicelib import container
from chalicelib.adapters.webhooks import WebhookSender
from chalicelib.api import ROUTES
from chalicelib.api.routes import Access, Route, Scope
from chalicelib.domain.alert import AlertOrigin, Delivery
from chalicelib.models import AuditModel
from chalicelib.repositories.alert import AlertRepository
from chalicelib.repositories.alert_setting import AlertSettingRepository
from infra.local.user_pool import create_pool
from shared.messages.structs import AlertRecord, validate
from shared.topics import site_thing_name
from tests.unit.cloud.cloud_testkit import NS, SETTINGS, Cloud, fetch_object, iot_client, online, running_cloud

CAMERA = {"name": "Door", "source": 0}
UPGRADE = {"version": "1.1.0", "sha256": "0" * 64, "signature": "A" * 86 + "=="}  # a published package
CALLERS = (None, "lms", "viewer", "operator", "admin")  # rejections first, so state is untouched until a success
ROLES = ("viewer", "operator", "admin")
#: mutating routes that are machine traffic, not administration: not audited (cost; see docs/api.md)
NOT_AUDITED = {("POST", "/api/sync"), ("POST", "/api/lms/heartbeat"),
               # sign-in: anyone may call these, so a flood must not write our table (Cognito's own records and
               # CloudTrail keep them; docs/security.md#dashboard-accounts)
               *(("POST", f"/api/auth/{step}") for step in ("sign-in", "challenge", "refresh", "forgot", "reset",
                                                            "mfa/setup", "mfa/verify"))}
#: reads that are audited: they hand out a credential (a log object's download link)
AUDITED_READS = {("GET", "/api/logs/{request_id}")}
#: the sites the scoped tokens hold ("s3" is theirs to delete, "s4" to retire); "far" (agents far1, far2) is outside
SCOPE = ("s1", "s3", "s4")
OUTSIDE = "far"
DAY = "2023-11-14"  # the fake clock's day


@dataclass
class Call:
    path: str
    body: Any = None
    prepare: Callable[[Cloud], None] | None = None
    #: a listing's own check of what the caller was shown (scope matrix)
    check: Callable[[Cloud, Any], None] | None = None
    #: the answer when the call is allowed, if not "2xx" (a filter naming an unseen agent: 404)
    allowed: int | str = "2xx"


def _camera(agent_id: str) -> Callable[[Cloud], None]:
    def prepare(cloud: Cloud) -> None:
        cloud.put(f"/api/cctv/agents/{agent_id}/cameras/tmp", CAMERA)

    return prepare


def _silence(site: str, key: str) -> Callable[[Cloud], None]:
    def prepare(cloud: Cloud) -> None:
        cloud.tokens[key] = cloud.post("/api/alert-silences", {"site_id": site, "duration_s": 600}).json_body[
            "data"]["silence_id"]

    return prepare


def _channel(cloud: Cloud) -> None:
    settings = AlertSettingRepository()
    for old in settings.channels():  # a tenant holds at most 20
        settings.delete_channel(old.channel_id)
    cloud.tokens["CHN"] = cloud.post("/api/alert-channels", {"kind": "webhook", "address": "https://hooks.example.com/x"}
                                     ).json_body["data"]["channel_id"]


def _dead_letter(cloud: Cloud) -> None:
    _channel(cloud)
    cloud.tokens["DLV"] = "d" * 32
    delivery = Delivery(cloud.tokens["DLV"], cloud.tokens["CHN"], "{}", 5, cloud.clock.now, "refused", dead=True)
    AlertSettingRepository().save_delivery(delivery, cloud.clock.now + 3600)


def _rule(cloud: Cloud) -> None:
    cloud.put("/api/alert-rules/tmp-rule", RULE)


RULE = {"rule_id": "tmp-rule", "name": "temporary", "condition": {"kind": "agent_offline", "for_s": 60}}


def _token(cloud: Cloud) -> None:
    cloud.tokens["TOK"] = container.get().tokens.create("viewer", "to revoke").token.token_id


POOL_PASSWORD = "Matrix-pass-12"
_fresh = iter(range(1_000_000))


def _cognito() -> Any:
    return boto3.client("cognito-idp", region_name=SETTINGS.region)


def _account(cloud: Cloud, email: str, *, temporary: bool = False) -> None:
    """An account of the world's pool (the sign-in routes' counterpart), made if missing."""
    pool_id = container.get().settings.user_pool_id
    try:
        _cognito().admin_get_user(UserPoolId=pool_id, Username=email)
        return
    except _cognito().exceptions.UserNotFoundException:
        pass
    _cognito().admin_create_user(UserPoolId=pool_id, Username=email, MessageAction="SUPPRESS",
                                 TemporaryPassword=POOL_PASSWORD,
                                 UserAttributes=[{"Name": "email", "Value": email}])
    if not temporary:
        _cognito().admin_set_user_password(UserPoolId=pool_id, Username=email, Password=POOL_PASSWORD,
                                           Permanent=True)


def _pool_tokens(cloud: Cloud, email: str) -> dict[str, Any]:
    _account(cloud, email)
    answer = _cognito().initiate_auth(ClientId=container.get().settings.user_pool_client_id,
                                      AuthFlow="USER_PASSWORD_AUTH",
                                      AuthParameters={"USERNAME": email, "PASSWORD": POOL_PASSWORD})
    return dict(answer["AuthenticationResult"])


def _into_body(fill: Callable[[Cloud, dict[str, Any]], None]) -> Callable[[Cloud], None]:
    """A ``prepare`` that fills the call's (mutable) body before each call: a fresh session, a fresh token."""

    def prepare(cloud: Cloud) -> None:
        fill(cloud, BODIES[fill.__name__])

    return prepare


def _challenge(cloud: Cloud, body: dict[str, Any]) -> None:
    email = f"first{next(_fresh)}@classtop.test"
    _account(cloud, email, temporary=True)
    answer = _cognito().initiate_auth(ClientId=container.get().settings.user_pool_client_id,
                                      AuthFlow="USER_PASSWORD_AUTH",
                                      AuthParameters={"USERNAME": email, "PASSWORD": POOL_PASSWORD})
    body.update(email=email, session=answer["Session"])


def _refresh(cloud: Cloud, body: dict[str, Any]) -> None:
    body["refresh_token"] = _pool_tokens(cloud, "refresh@classtop.test")["RefreshToken"]


def _access(cloud: Cloud, body: dict[str, Any]) -> None:
    body["access_token"] = _pool_tokens(cloud, f"mfa{next(_fresh)}@classtop.test")["AccessToken"]


BODIES: dict[str, dict[str, Any]] = {
    "_challenge": {"email": "", "challenge": "NEW_PASSWORD_REQUIRED", "session": "",
                   "new_password": "Changed-pass-12"},
    "_refresh": {"refresh_token": ""},
    "_access": {"access_token": ""},
}


def _existing(email: str) -> Callable[[Cloud], None]:
    def prepare(cloud: Cloud) -> None:
        _account(cloud, email)

    return prepare


def _path(cloud: Cloud, call: Call) -> str:
    """``call.path`` with the ids made by the world (or by ``prepare``) filled in."""
    path = call.path
    for placeholder in ("FEED", "CMD_FAR", "CMD", "TOK", "LOG_FAR", "LOG", "UPG_FAR", "UPG", "ALR_FAR", "ALR", "CLA",
                        "SIL_FAR", "SIL", "CHN", "DLV"):
        if placeholder in path:
            path = path.replace(placeholder, cloud.tokens[placeholder])
    return path


CALLS: dict[tuple[str, str], Call] = {
    ("GET", "/api/health"): Call("/api/health"),
    ("POST", "/api/auth/sign-in"): Call("/api/auth/sign-in", {"email": "matrix@classtop.test",
                                                              "password": POOL_PASSWORD},
                                        prepare=_existing("matrix@classtop.test")),
    ("POST", "/api/auth/challenge"): Call("/api/auth/challenge", BODIES["_challenge"], prepare=_into_body(_challenge)),
    ("POST", "/api/auth/refresh"): Call("/api/auth/refresh", BODIES["_refresh"], prepare=_into_body(_refresh)),
    ("POST", "/api/auth/forgot"): Call("/api/auth/forgot", {"email": "matrix@classtop.test"}),
    ("POST", "/api/auth/reset"): Call("/api/auth/reset", {"email": "matrix@classtop.test", "code": "123456",
                                                          "new_password": POOL_PASSWORD}),
    ("POST", "/api/auth/mfa/setup"): Call("/api/auth/mfa/setup", BODIES["_access"], prepare=_into_body(_access)),
    ("POST", "/api/auth/mfa/verify"): Call("/api/auth/mfa/verify", {"access_token": "", "code": "123456"},
                                           prepare=lambda cloud: _access(cloud, CALLS[
                                               ("POST", "/api/auth/mfa/verify")].body)),
    ("GET", "/api/me"): Call("/api/me"),
    ("GET", "/api/overview"): Call("/api/overview"),
    ("GET", "/api/overview/feed"): Call("/api/overview/feed"),
    ("GET", "/api/users"): Call("/api/users"),
    ("POST", "/api/users"): Call("/api/users", {"email": "invited@classtop.test", "role": "viewer"}),
    ("PATCH", "/api/users/{email}"): Call("/api/users/patched@classtop.test", {"role": "operator"},
                                          prepare=_existing("patched@classtop.test")),
    ("DELETE", "/api/users/{email}"): Call("/api/users/deleted@classtop.test",
                                           prepare=_existing("deleted@classtop.test")),
    ("POST", "/api/clients/register"): Call("/api/clients/register", {"uuid": "c1", "name": "", "api_url": ""}),
    ("POST", "/api/sync"): Call("/api/sync", {"client_uuid": "c1", "courses": [], "schedule_entries": []}),
    ("GET", "/api/clients/{client_uuid}/courses"): Call("/api/clients/c1/courses"),
    ("GET", "/api/clients/{client_uuid}/schedule"): Call("/api/clients/c1/schedule"),
    ("GET", "/api/clients"): Call("/api/clients"),
    ("GET", "/api/clients/{client_uuid}"): Call("/api/clients/c1"),
    ("POST", "/api/clients/{client_uuid}/approve"): Call("/api/clients/c2/approve", {}),
    ("POST", "/api/clients/{client_uuid}/reject"): Call("/api/clients/c2/reject", {}),
    ("POST", "/api/lms/register"): Call("/api/lms/register", {"lms_uuid": "lms-new", "name": "n", "host": "h",
                                                              "port": 8000, "version": "1"}),
    ("POST", "/api/lms/heartbeat"): Call("/api/lms/heartbeat", {"lms_uuid": "lms-m", "client_count": 0,
                                                                "clients": []}),
    ("GET", "/api/lms"): Call("/api/lms"),
    ("GET", "/api/lms/{site_id}"): Call("/api/lms/s1"),
    ("GET", "/api/lms/{site_id}/clients"): Call("/api/lms/s1/clients"),
    ("POST", "/api/lms/{site_id}/approve"): Call("/api/lms/lms-m/approve", {}),
    ("DELETE", "/api/lms/{site_id}"): Call("/api/lms/s-gone"),
    ("POST", "/api/enrolments"): Call("/api/enrolments", {"name": "school"}),
    ("POST", "/api/lms/{site_id}/retire"): Call("/api/lms/s-retired/retire"),
    ("POST", "/api/agents/{agent_id}/retire"): Call("/api/agents/r1/retire"),
    ("GET", "/api/agents"): Call("/api/agents"),
    ("GET", "/api/agents/{agent_id}"): Call("/api/agents/a1"),
    ("PUT", "/api/agents/{agent_id}/tags"): Call("/api/agents/a1/tags", {"tags": ["lab"]}),
    ("PUT", "/api/agents/{agent_id}/group"): Call("/api/agents/a1/group", {"group": "room-1"}),
    ("POST", "/api/agents/{agent_id}/approve"): Call("/api/agents/a1/approve", {}),
    ("POST", "/api/agents/{agent_id}/reject"): Call("/api/agents/a2/reject", {}),
    ("POST", "/api/agents/{agent_id}/move"): Call("/api/agents/a2/move", {"site_id": "s1"}),
    ("GET", "/api/agents/{agent_id}/commands"): Call("/api/agents/a1/commands"),
    ("GET", "/api/agents/{agent_id}/snapshots"): Call("/api/agents/a1/snapshots"),
    ("GET", "/api/agents/{agent_id}/metrics"): Call("/api/agents/a1/metrics?range=day"),
    ("GET", "/api/agents/{agent_id}/settings"): Call("/api/agents/a1/settings"),
    ("PUT", "/api/agents/{agent_id}/settings"): Call("/api/agents/a1/settings", {"settings": {"volume": "30"}}),
    ("GET", "/api/lms/{site_id}/config"): Call("/api/lms/s1/config"),
    ("PUT", "/api/lms/{site_id}/config"): Call("/api/lms/s1/config", {"config": {"site_heartbeat_s": 10}}),
    ("GET", "/api/versions"): Call("/api/versions"),
    ("POST", "/api/commands"): Call("/api/commands", {"agent_id": "a1", "command": "ping"}),
    ("POST", "/api/control/command"): Call("/api/control/command", {"target_client": "a1", "command": "ping"}),
    ("GET", "/api/commands/{command_id}"): Call("/api/commands/CMD"),
    ("GET", "/api/cctv/agents/{agent_id}/cameras"): Call("/api/cctv/agents/a1/cameras"),
    ("GET", "/api/cctv/agents/{agent_id}/cameras/{camera_id}"): Call("/api/cctv/agents/a1/cameras/door"),
    ("PUT", "/api/cctv/agents/{agent_id}/cameras/{camera_id}"): Call("/api/cctv/agents/a1/cameras/door", CAMERA),
    ("DELETE", "/api/cctv/agents/{agent_id}/cameras/{camera_id}"): Call("/api/cctv/agents/a1/cameras/tmp",
                                                                        prepare=_camera("a1")),
    ("POST", "/api/cctv/agents/{agent_id}/cameras/{camera_id}/snapshot"): Call(
        "/api/cctv/agents/a1/cameras/door/snapshot"),
    ("GET", "/api/cctv/agents/{agent_id}/status"): Call("/api/cctv/agents/a1/status"),
    ("GET", "/api/cctv/events"): Call("/api/cctv/events?agent_id=a1"),
    ("GET", "/api/stats"): Call("/api/stats"),
    ("GET", "/api/stats/sites/{site_id}"): Call("/api/stats/sites/s1"),
    ("GET", "/api/audit"): Call("/api/audit"),
    ("GET", "/api/tokens"): Call("/api/tokens"),
    ("POST", "/api/tokens"): Call("/api/tokens", {"name": "new", "role": "viewer"}),
    ("DELETE", "/api/tokens/{token_id}"): Call("/api/tokens/TOK", prepare=_token),
    ("POST", "/api/agents/{agent_id}/logs"): Call("/api/agents/a1/logs", {"level": "INFO"}),
    ("POST", "/api/sites/{site_id}/logs"): Call("/api/sites/s1/logs", {}),
    ("GET", "/api/logs/{request_id}"): Call("/api/logs/LOG"),
    ("POST", "/api/upgrades/packages"): Call("/api/upgrades/packages", {"version": "9.9.9"}),
    ("POST", "/api/upgrades/campaigns"): Call("/api/upgrades/campaigns", {**UPGRADE, "site_ids": ["s1"]}),
    ("GET", "/api/upgrades/campaigns"): Call("/api/upgrades/campaigns"),
    ("GET", "/api/upgrades/campaigns/{campaign_id}"): Call("/api/upgrades/campaigns/UPG"),
    ("POST", "/api/upgrades/campaigns/{campaign_id}/cancel"): Call("/api/upgrades/campaigns/UPG/cancel", {}),
    ("GET", "/api/alerts"): Call("/api/alerts"),
    ("GET", "/api/alerts/{alert_id}"): Call("/api/alerts/ALR"),
    ("POST", "/api/alerts/{alert_id}/acknowledge"): Call("/api/alerts/ALR/acknowledge", {}),
    ("POST", "/api/alerts/{alert_id}/resolve"): Call("/api/alerts/CLA/resolve", {}),
    ("POST", "/api/alerts/{alert_id}/silence"): Call("/api/alerts/ALR/silence", {"duration_s": 60}),
    ("GET", "/api/alert-silences"): Call("/api/alert-silences"),
    ("POST", "/api/alert-silences"): Call("/api/alert-silences", {"site_id": "s1", "duration_s": 60}),
    ("DELETE", "/api/alert-silences/{silence_id}"): Call("/api/alert-silences/SIL", prepare=_silence("s1", "SIL")),
    ("GET", "/api/alert-rules"): Call("/api/alert-rules"),
    ("GET", "/api/alert-rules/{rule_id}"): Call("/api/alert-rules/agent-offline"),
    ("PUT", "/api/alert-rules/{rule_id}"): Call("/api/alert-rules/tmp-rule", RULE),
    ("DELETE", "/api/alert-rules/{rule_id}"): Call("/api/alert-rules/tmp-rule", prepare=_rule),
    ("GET", "/api/alert-channels"): Call("/api/alert-channels"),
    ("POST", "/api/alert-channels"): Call("/api/alert-channels",
                                          {"kind": "webhook", "address": "https://hooks.example.com/y"}),
    ("DELETE", "/api/alert-channels/{channel_id}"): Call("/api/alert-channels/CHN", prepare=_channel),
    ("POST", "/api/alert-channels/{channel_id}/test"): Call("/api/alert-channels/CHN/test", {}, prepare=_channel),
    ("GET", "/api/alert-channels/dead-letters"): Call("/api/alert-channels/dead-letters"),
    ("POST", "/api/alert-channels/dead-letters/{delivery_id}/retry"): Call(
        "/api/alert-channels/dead-letters/DLV/retry", {}, prepare=_dead_letter),
}


def _listed(key: str, id_key: str, wanted: set[str]) -> Callable[[Cloud, Any], None]:
    """A listing's check: it shows only ids of the token's sites, and at least ``wanted``."""

    def check(cloud: Cloud, data: Any) -> None:
        shown = {item[id_key] for item in data[key]}
        assert wanted <= shown and not any(OUTSIDE in s for s in shown), shown

    return check


def _scoped_stats(cloud: Cloud, data: Any) -> None:
    visible = [s for s in SCOPE if cloud.get(f"/api/lms/{s}").status_code == 200]
    assert data["sites"]["total"] == len(visible) and "clients" not in data, data


def _nothing_of_far(cloud: Cloud, data: Any) -> None:
    assert OUTSIDE not in json.dumps({k: v for k, v in data.items() if k != "cursor"}), data


def _scoped_link(cloud: Cloud, data: Any) -> None:
    """A scoped caller's overview object (its presigned URL) names its sites and shows nothing of another's."""
    assert data["scope"] == ".".join(["sites", *sorted(SCOPE)]), data
    _nothing_of_far(cloud, fetch_object(data["url"]))


#: (inside the token's sites, outside them) for routes whose answer depends on the target's site
SCOPED_CALLS: dict[tuple[str, str], tuple[Call, Call]] = {
    ("GET", "/api/me"): (Call("/api/me"), Call("/api/me")),  # the caller's own record: its sites as given
    ("GET", "/api/overview"): (Call("/api/overview", check=_nothing_of_far),
                               Call("/api/overview?events=50", check=_nothing_of_far)),
    ("GET", "/api/overview/feed"): (Call("/api/overview/feed", check=_scoped_link),
                                    Call("/api/overview/feed", check=_scoped_link)),
    ("GET", "/api/lms"): (Call("/api/lms", check=_listed("sites", "site_id", {"s1"})),
                          Call("/api/lms?limit=500", check=_listed("sites", "site_id", {"s1"}))),
    ("GET", "/api/lms/{site_id}"): (Call("/api/lms/s1"), Call(f"/api/lms/{OUTSIDE}")),
    ("GET", "/api/lms/{site_id}/clients"): (Call("/api/lms/s1/clients"), Call(f"/api/lms/{OUTSIDE}/clients")),
    ("POST", "/api/lms/{site_id}/approve"): (Call("/api/lms/s1/approve", {}), Call(f"/api/lms/{OUTSIDE}/approve",
                                                                                    {})),
    ("DELETE", "/api/lms/{site_id}"): (Call("/api/lms/s3"), Call(f"/api/lms/{OUTSIDE}")),
    ("POST", "/api/lms/{site_id}/retire"): (Call("/api/lms/s4/retire"), Call(f"/api/lms/{OUTSIDE}/retire")),
    ("POST", "/api/agents/{agent_id}/retire"): (Call("/api/agents/r2/retire"), Call("/api/agents/far1/retire")),
    ("POST", "/api/enrolments"): (Call("/api/enrolments", {"name": "school", "site_id": "s1"}),
                                  Call("/api/enrolments", {"name": "school", "site_id": OUTSIDE})),
    ("GET", "/api/agents"): (Call("/api/agents", check=_listed("agents", "agent_id", {"a1"})),
                             Call(f"/api/agents?site_id={OUTSIDE}", check=_listed("agents", "agent_id", set()))),
    ("GET", "/api/agents/{agent_id}"): (Call("/api/agents/a1"), Call("/api/agents/far1")),
    ("PUT", "/api/agents/{agent_id}/tags"): (Call("/api/agents/a1/tags", {"tags": ["lab"]}),
                                             Call("/api/agents/far1/tags", {"tags": ["lab"]})),
    ("PUT", "/api/agents/{agent_id}/group"): (Call("/api/agents/a1/group", {"group": "room-1"}),
                                              Call("/api/agents/far1/group", {"group": "room-1"})),
    ("POST", "/api/agents/{agent_id}/approve"): (Call("/api/agents/a1/approve", {}),
                                                 Call("/api/agents/far1/approve", {})),
    ("POST", "/api/agents/{agent_id}/move"): (Call("/api/agents/a1/move", {"site_id": "s1"}),
                                              Call("/api/agents/far1/move", {"site_id": "s1"})),
    ("POST", "/api/agents/{agent_id}/reject"): (Call("/api/agents/a2/reject", {}),
                                                Call("/api/agents/far2/reject", {})),
    ("GET", "/api/agents/{agent_id}/commands"): (Call("/api/agents/a1/commands"), Call("/api/agents/far1/commands")),
    ("GET", "/api/agents/{agent_id}/snapshots"): (Call("/api/agents/a1/snapshots"),
                                                  Call("/api/agents/far1/snapshots")),
    ("GET", "/api/agents/{agent_id}/metrics"): (Call("/api/agents/a1/metrics"), Call("/api/agents/far1/metrics")),
    ("GET", "/api/agents/{agent_id}/settings"): (Call("/api/agents/a1/settings"), Call("/api/agents/far1/settings")),
    ("PUT", "/api/agents/{agent_id}/settings"): (Call("/api/agents/a1/settings", {"settings": {"volume": "30"}}),
                                                 Call("/api/agents/far1/settings", {"settings": {"volume": "30"}})),
    ("GET", "/api/lms/{site_id}/config"): (Call("/api/lms/s1/config"), Call(f"/api/lms/{OUTSIDE}/config")),
    ("PUT", "/api/lms/{site_id}/config"): (Call("/api/lms/s1/config", {"config": {"site_heartbeat_s": 10}}),
                                           Call(f"/api/lms/{OUTSIDE}/config", {"config": {"site_heartbeat_s": 10}})),
    ("GET", "/api/versions"): (Call("/api/versions", check=_nothing_of_far),
                               Call("/api/versions", check=_nothing_of_far)),
    ("POST", "/api/commands"): (Call("/api/commands", {"agent_id": "a1", "command": "ping"}),
                                Call("/api/commands", {"agent_ids": ["a1", "far1"], "command": "ping"})),
    ("POST", "/api/control/command"): (Call("/api/control/command", {"target_client": "a1", "command": "ping"}),
                                       Call("/api/control/command", {"target_client": "far1", "command": "ping"})),
    ("GET", "/api/commands/{command_id}"): (Call("/api/commands/CMD"), Call("/api/commands/CMD_FAR")),
    ("GET", "/api/cctv/agents/{agent_id}/cameras"): (Call("/api/cctv/agents/a1/cameras"),
                                                     Call("/api/cctv/agents/far1/cameras")),
    ("GET", "/api/cctv/agents/{agent_id}/cameras/{camera_id}"): (Call("/api/cctv/agents/a1/cameras/door"),
                                                                 Call("/api/cctv/agents/far1/cameras/door")),
    ("PUT", "/api/cctv/agents/{agent_id}/cameras/{camera_id}"): (
        Call("/api/cctv/agents/a1/cameras/door", CAMERA), Call("/api/cctv/agents/far1/cameras/door", CAMERA)),
    ("DELETE", "/api/cctv/agents/{agent_id}/cameras/{camera_id}"): (
        Call("/api/cctv/agents/a1/cameras/tmp", prepare=_camera("a1")),
        Call("/api/cctv/agents/far1/cameras/tmp", prepare=_camera("far1"))),
    ("POST", "/api/cctv/agents/{agent_id}/cameras/{camera_id}/snapshot"): (
        Call("/api/cctv/agents/a1/cameras/door/snapshot"), Call("/api/cctv/agents/far1/cameras/door/snapshot")),
    ("GET", "/api/cctv/agents/{agent_id}/status"): (Call("/api/cctv/agents/a1/status"),
                                                    Call("/api/cctv/agents/far1/status")),
    ("GET", "/api/cctv/events"): (Call(f"/api/cctv/events?day={DAY}", check=_nothing_of_far),
                                  Call("/api/cctv/events?agent_id=far1", allowed=404)),
    ("GET", "/api/stats"): (Call("/api/stats", check=_scoped_stats), Call("/api/stats?days=30", check=_scoped_stats)),
    ("GET", "/api/stats/sites/{site_id}"): (Call("/api/stats/sites/s1"), Call(f"/api/stats/sites/{OUTSIDE}")),
    ("POST", "/api/agents/{agent_id}/logs"): (Call("/api/agents/a1/logs", {}), Call("/api/agents/far1/logs", {})),
    ("POST", "/api/sites/{site_id}/logs"): (Call("/api/sites/s1/logs", {}), Call(f"/api/sites/{OUTSIDE}/logs", {})),
    ("GET", "/api/logs/{request_id}"): (Call("/api/logs/LOG"), Call("/api/logs/LOG_FAR")),
    ("POST", "/api/upgrades/campaigns"): (Call("/api/upgrades/campaigns", {**UPGRADE, "site_ids": ["s1"]}),
                                          Call("/api/upgrades/campaigns", {**UPGRADE, "site_ids": ["s1", OUTSIDE]})),
    ("GET", "/api/upgrades/campaigns"): (Call("/api/upgrades/campaigns", check=_nothing_of_far),
                                         Call("/api/upgrades/campaigns?limit=200", check=_nothing_of_far)),
    ("GET", "/api/upgrades/campaigns/{campaign_id}"): (Call("/api/upgrades/campaigns/UPG"),
                                                       Call("/api/upgrades/campaigns/UPG_FAR")),
    ("POST", "/api/upgrades/campaigns/{campaign_id}/cancel"): (Call("/api/upgrades/campaigns/UPG/cancel", {}),
                                                               Call("/api/upgrades/campaigns/UPG_FAR/cancel", {})),
    ("GET", "/api/alerts"): (Call("/api/alerts", check=_nothing_of_far),
                             Call(f"/api/alerts?site_id={OUTSIDE}", check=_nothing_of_far)),
    ("GET", "/api/alerts/{alert_id}"): (Call("/api/alerts/ALR"), Call("/api/alerts/ALR_FAR")),
    ("POST", "/api/alerts/{alert_id}/acknowledge"): (Call("/api/alerts/ALR/acknowledge", {}),
                                                     Call("/api/alerts/ALR_FAR/acknowledge", {})),
    ("POST", "/api/alerts/{alert_id}/resolve"): (Call("/api/alerts/CLA/resolve", {}),
                                                 Call("/api/alerts/ALR_FAR/resolve", {})),
    ("POST", "/api/alerts/{alert_id}/silence"): (Call("/api/alerts/ALR/silence", {"duration_s": 60}),
                                                 Call("/api/alerts/ALR_FAR/silence", {"duration_s": 60})),
    ("GET", "/api/alert-silences"): (Call("/api/alert-silences", check=_nothing_of_far),
                                     Call("/api/alert-silences", check=_nothing_of_far)),
    ("POST", "/api/alert-silences"): (Call("/api/alert-silences", {"site_id": "s1", "duration_s": 60}),
                                      Call("/api/alert-silences", {"site_id": OUTSIDE, "duration_s": 60})),
    ("DELETE", "/api/alert-silences/{silence_id}"): (
        Call("/api/alert-silences/SIL", prepare=_silence("s1", "SIL")),
        Call("/api/alert-silences/SIL_FAR", prepare=_silence(OUTSIDE, "SIL_FAR"))),
    ("GET", "/api/alert-rules"): (Call("/api/alert-rules"), Call("/api/alert-rules")),
    ("GET", "/api/alert-rules/{rule_id}"): (Call("/api/alert-rules/agent-offline"),
                                            Call("/api/alert-rules/agent-offline")),
}


def expected(access: Access, caller: str | None) -> int | str:
    """The documented answer: a status code, or "2xx"."""
    if access is Access.PUBLIC:
        return "2xx"
    if access is Access.ENROLMENT:
        return "2xx" if caller is None else 401
    if access is Access.LMS_KEY:
        return "2xx" if caller == "lms" else 401
    if caller in (None, "lms"):
        return 401
    rank = {"viewer": 0, "operator": 1, "admin": 2}
    return "2xx" if rank[caller] >= rank[access.value] else 403


def expected_scoped(route: Route, role: str, inside: bool, allowed: int | str = "2xx") -> int | str:
    """The documented answer to a token of ``role`` scoped to sites, for a target inside or outside them."""
    by_role = expected(route.access, role)
    if by_role != "2xx" or route.scope in (Scope.NONE, Scope.LIST):
        return allowed if by_role == "2xx" else by_role
    if route.scope is Scope.TENANT:
        return 403
    if route.scope is Scope.NAMED:
        return allowed if inside else 403
    return allowed if inside else 404  # Scope.SITE: another site's target is unknown to the token


@pytest.fixture(scope="module")
def world() -> Iterator[Cloud]:
    # presigning needs only the bucket's name (no request to S3)
    with running_cloud(client_policy="open", lms_policy="open", media_bucket="classtop-demo-media") as cloud:
        # webhooks.example.com "resolves" to a documentation address: refused at once, no DNS from the tests
        container.configure(webhooks=WebhookSender(resolver=lambda host, port: ["203.0.113.7"]))
        cloud.heartbeat("s1", [online("a1"), online("a2"), online("r1"), online("r2")])  # r1, r2: to retire
        cloud.heartbeat("s-retired", [online("sr1")])
        cloud.heartbeat("s4", [online("d4")])
        cloud.heartbeat("s-gone", [online("g1")])
        cloud.heartbeat("s3", [online("c3")])
        cloud.heartbeat(OUTSIDE, [online("far1"), online("far2")])
        cloud.post("/api/sync", {"client_uuid": "c1", "courses": [], "schedule_entries": []}, role=None)
        cloud.post("/api/clients/register", {"uuid": "c2", "name": "", "api_url": ""}, role=None)
        lms = {"lms_uuid": "lms-m", "name": "m", "host": "h", "port": 8000, "version": "1"}
        cloud.tokens["lms"] = cloud.post("/api/lms/register", lms, role=None).json_body["data"]["api_key"]
        boto3.client("s3", region_name=SETTINGS.region).create_bucket(Bucket="classtop-demo-media")  # HEAD of logs
        for agent, key in (("a1", "CMD"), ("far1", "CMD_FAR")):
            cloud.tokens[key] = cloud.post("/api/commands", {"agent_id": agent, "command": "ping"}).json_body[
                "data"]["command_id"]
            cloud.tokens[key.replace("CMD", "LOG")] = cloud.post(f"/api/agents/{agent}/logs", {}).json_body[
                "data"]["request_id"]
            cloud.put(f"/api/cctv/agents/{agent}/cameras/door", CAMERA)
        for site in ("s1", OUTSIDE):
            iot_client().create_thing(thingName=site_thing_name(NS, site))  # the site's thing, as enrolment makes it
        boto3.client("s3", region_name=SETTINGS.region).put_object(  # a published agent package
            Bucket="classtop-demo-media", Key="agent-packages/1.1.0.tar.gz", Body=b"package")
        for site, key in (("s1", "UPG"), (OUTSIDE, "UPG_FAR")):
            cloud.tokens[key] = cloud.post("/api/upgrades/campaigns", {**UPGRADE, "site_ids": [site]}).json_body[
                "data"]["campaign_id"]
        for site, key in (("s1", "ALR"), (OUTSIDE, "ALR_FAR")):
            record = agent_record("a1" if site == "s1" else "far1")
            cloud.invoke("site_alerts", site_alerts(site, record))
            cloud.tokens[key] = record["alert_id"]
        cloud_alert = validate(AlertRecord, agent_record("a1", rule_id="site-unreachable"))
        AlertRepository(SETTINGS.tenant, 3600).apply("s1", cloud_alert, AlertOrigin.CLOUD)  # as the schedule opens one
        cloud.tokens["CLA"] = cloud_alert.alert_id
        # the tenant's user pool (moto's cognito-idp), as the twin makes it: the sign-in and account routes' world
        pool = create_pool(_cognito(), NS)
        container.configure(settings=dataclasses.replace(container.get().settings, user_pool_id=pool.pool_id,
                                                         user_pool_client_id=pool.client_id))
        tokens = container.get().tokens
        for role in ROLES:
            cloud.tokens[f"scoped-{role}"] = tokens.create(role, f"scoped {role}", site_ids=SCOPE).secret
        for site, agent in (("s1", "a1"), (OUTSIDE, "far1")):
            event = {"type": "event", "v": 1, "kind": "camera.online", "severity": "info", "message": "up",
                     "timestamp": cloud.clock.now}
            cloud.invoke("site_events", {"type": "site_events", "v": 1, "site_id": site,
                                         "events": [{"agent_id": agent, "event": event}]})
        yield cloud


def audit_count() -> int:
    return AuditModel.count(DAY)  # test-only inspection


def _answer(cloud: Cloud, route: Route, call: Call, caller: str | None, answer: int | str) -> Any:
    """Make ``call`` as ``caller``; check the answer and that a mutating route left one audit entry."""
    if call.prepare is not None:
        call.prepare(cloud)
    audited = (route.method != "GET" and (route.method, route.path) not in NOT_AUDITED) or (
        (route.method, route.path) in AUDITED_READS)
    before = audit_count()
    response = cloud.request(route.method, _path(cloud, call), call.body, role=caller)
    got = response.status_code
    assert (200 <= got < 300) if answer == "2xx" else got == answer, (caller, got, response.json_body)
    assert audit_count() - before == (1 if audited else 0), caller  # every mutating call, refused ones too
    return response


def test_route_declarations_list_exactly_the_app_routes() -> None:
    documented = {(r.method, r.path) for r in ROUTES}
    actual = {(method, path) for path, entries in app.routes.items() for method in entries}
    assert documented == actual
    assert set(CALLS) == actual
    site_bound = {(r.method, r.path) for r in ROUTES if r.scope in (Scope.SITE, Scope.NAMED, Scope.LIST)}
    assert set(SCOPED_CALLS) == site_bound
    assert all((r.scope is Scope.NONE) == (r.access in (Access.PUBLIC, Access.ENROLMENT, Access.LMS_KEY))
               for r in ROUTES)


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_role_matrix(world: Cloud, route: Route) -> None:
    call = CALLS[(route.method, route.path)]
    for caller in CALLERS:
        _answer(world, route, call, caller, expected(route.access, caller))


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_scope_matrix(world: Cloud, route: Route) -> None:
    """Every route x role x target inside / outside the token's sites. Outside first (nothing may change), then
    inside from the lowest role up, so a refusal never meets state a success changed."""
    inside, outside = SCOPED_CALLS.get((route.method, route.path)) or (CALLS[(route.method, route.path)],) * 2
    for where, call in (("outside", outside), ("inside", inside)):
        for role in ROLES:
            answer = expected_scoped(route, role, where == "inside", call.allowed)
            response = _answer(world, route, call, f"scoped-{role}", answer)
            if call.check is not None and answer == "2xx":
                call.check(world, response.json_body["data"])

