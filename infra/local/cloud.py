"""The local cloud: one process standing in for a tenant's AWS cloud plane.

Threads, started in order and stopped in reverse:

1. moto's ``ThreadedMotoServer`` — DynamoDB, IoT registry, iot-data (publish), S3, SNS — whose
   ``CreateCertificateFromCsr`` signs with the twin's stand-in for Amazon's CA (``infra/local/iot_registry.py``);
2. the Chalice app (``cloud/app.py``) with its tables created in moto and an IoT publisher that calls the
   production boto3 ``iot-data`` adapter (pointed at moto) *and* delivers the message on the stand-in broker,
   the site policy of the template stored in moto, and an identity issuer that puts an enrolled site's access
   (that policy, translated: ``infra/local/iot_access.py``) on the stand-in broker;
3. the broker link and the Device Shadow service: the shadows (``infra/local/shadow_documents.py``), the
   ``iot-data`` shadow REST API that the app's production boto3 adapter is pointed at
   (``infra/local/shadow_api.py``), and the MQTT side answering devices' ``update``/``get``/``delete`` requests of
   classic and named shadows on the stand-in broker (``infra/local/shadows.py``);
4. the rules engine: the IoT topic rules of ``infra/aws/rules.py`` invoking the app's Lambda handlers, on its own
   persistent session (a broker restart loses it no message);
5. the app's scheduled functions (the command sweeper) on the template's rate (``infra/local/schedules.py``;
   ``--schedule-every-s`` for a shorter one);
6. Chalice's local HTTP server for the app's routes (405 to an undeclared method: ``infra/local/api_server.py``),
   which also serves the web apps' files (``web/``; ``/`` leads to the dashboard) with CloudFront's security headers
   (``infra/local/dashboard_files.py``).

The tenant's Cognito user pool is moto's cognito-idp (on the same server), created at start as the template
creates it (``infra/local/user_pool.py``), with a demo admin whose e-mail and password go to ``--demo-user-file``.

The twin's IoT Core parts connect to the stand-in broker with their own privileged certificates (``--iot-dir``:
``ca.crt`` and ``<identity>.crt``/``.key``), as they are inside IoT Core in AWS.

Run as ``python -m infra.local.cloud --api-port 8765 --broker-port N --iot-dir D ...``; it writes the first admin token
to ``--token-file`` and then ``--ready-file`` when everything is up.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

from edge.lms.enrolment.broker_credentials import DynsecControl
from infra.aws.overview_bucket import CORS_MAX_AGE_S
from infra.aws.policy_eval import IotPolicy
from infra.local.dashboard_files import WEB_DIR, local_server
from infra.local.iot_access import (
    ADMIN_CLIENT,
    IOT_CORE_CLIENT,
    LIFECYCLE_CLIENT,
    RULES_CLIENT,
    StandInAccess,
    iot_core_settings,
    site_policy,
)
from infra.local.iot_ca import IotCa
from infra.local.iot_registry import StandInIssuer, install_csr_signing
from infra.local.lifecycle_events import LifecycleEvents
from infra.local.publisher import TwinPublisher
from infra.local.rules_engine import RulesEngine
from infra.local.schedules import Schedules
from infra.local.shadow_api import ShadowApi
from infra.local.shadow_documents import ShadowDocuments
from infra.local.shadows import ShadowService
from infra.local.user_pool import DEMO_ADMIN_EMAIL, LocalPool, create_demo_admin, create_pool
from shared.files import write_atomic
from shared.lifecycle import Lifecycle
from shared.mqtt import MqttClient, MqttSettings
from shared.names import Namespace, resource_name

log = logging.getLogger("infra.local.cloud")

REPO = Path(__file__).resolve().parents[2]
CLOUD_DIR = REPO / "cloud"


def cloud_environment(tenant: str, stage: str, moto_url: str) -> dict[str, str]:
    """What the Chalice app reads from its environment in the twin (fake credentials, moto endpoint)."""
    return {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "CLASSTOP_TENANT": tenant,
        "CLASSTOP_STAGE": stage,
        "CLASSTOP_AWS_ENDPOINT": moto_url,
        "CLASSTOP_MEDIA_BUCKET": resource_name(Namespace(tenant, stage), "media"),
        # moto's account and the data-plane stack's topic name (start_app creates it)
        "CLASSTOP_ALERTS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:"
                                     + resource_name(Namespace(tenant, stage), "alerts"),
        # the overview's objects (start_app creates the bucket, with the template's CORS for the twin's origin)
        "CLASSTOP_OVERVIEW_BUCKET": resource_name(Namespace(tenant, stage), "overview"),
    }


class LocalCloud:
    def __init__(
        self,
        *,
        tenant: str,
        stage: str,
        host: str,
        api_port: int,
        moto_port: int,
        broker_host: str,
        broker_port: int,
        iot_dir: Path,
        schedule_every_s: float | None = None,
    ) -> None:
        self.tenant, self.stage, self.host = tenant, stage, host
        self.schedule_every_s = schedule_every_s
        self.api_port, self.moto_port = api_port, moto_port
        self.broker_host, self.broker_port = broker_host, broker_port
        self.iot_dir = iot_dir
        self.lifecycle = Lifecycle()
        self.app_module: ModuleType | None = None
        self.rules: RulesEngine | None = None
        self.shadow_service: ShadowService | None = None
        self.pool: LocalPool | None = None
        #: the demo admin's e-mail and password (``start_app``)
        self.demo_user: tuple[str, str] = ("", "")

    @property
    def moto_url(self) -> str:
        return f"http://{self.host}:{self.moto_port}"

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"

    # ------------------------------------------------------------ steps

    def start(self) -> None:
        steps = [self.start_moto, self.start_app, self.start_broker_link, self.start_rules,
                 self.start_lifecycle_events, self.start_schedules, self.start_http]
        self.lifecycle.start(steps)

    def stop(self) -> None:
        self.lifecycle.stop()

    def start_moto(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        # moto checks TOTP codes for real (one fixed secret for every user: docs/field-notes.md)
        os.environ["MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP"] = "true"
        server = ThreadedMotoServer(ip_address=self.host, port=self.moto_port, verbose=False)
        server.start()
        self.lifecycle.on_stop("moto", server.stop)
        install_csr_signing(IotCa(self.iot_dir))
        log.info("moto server on %s", self.moto_url)

    def start_app(self) -> None:
        os.environ.update(cloud_environment(self.tenant, self.stage, self.moto_url))
        if str(CLOUD_DIR) not in sys.path:
            sys.path.insert(0, str(CLOUD_DIR))
        self.start_user_pool()
        import app as app_module  # cloud/app.py: the Chalice app

        from chalicelib import container, models

        self.app_module = app_module
        settings = container.get().settings
        created = models.create_tables(settings)
        log.info("tables ready (%d created)", len(created))
        import boto3

        # the site policy as the template deploys it (what enrolment attaches to a site's certificate)
        iot = boto3.client("iot", endpoint_url=self.moto_url, region_name=settings.region)
        iot.create_policy(policyName=settings.iot_site_policy,
                          policyDocument=json.dumps(site_policy(Namespace(self.tenant, self.stage))))
        if settings.iot_site_thing_type:
            iot.create_thing_type(thingTypeName=settings.iot_site_thing_type)
        if settings.media_bucket:  # what the data-plane stack creates in AWS
            boto3.client("s3", endpoint_url=self.moto_url, region_name=settings.region).create_bucket(
                Bucket=settings.media_bucket
            )
        if settings.alerts_topic_arn:  # the tenant's alerts topic (e-mail and SMS alert channels)
            boto3.client("sns", endpoint_url=self.moto_url, region_name=settings.region).create_topic(
                Name=settings.alerts_topic_arn.rsplit(":", 1)[1])
        if settings.overview_bucket:  # the template's OverviewBucket: the dashboard's origin may GET its objects
            s3 = boto3.client("s3", endpoint_url=self.moto_url, region_name=settings.region)
            with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
                s3.create_bucket(Bucket=settings.overview_bucket)
            s3.put_bucket_cors(Bucket=settings.overview_bucket, CORSConfiguration={"CORSRules": [{
                "AllowedOrigins": [self.api_url], "AllowedMethods": ["GET"], "AllowedHeaders": ["If-None-Match"],
                "ExposeHeaders": ["ETag"], "MaxAgeSeconds": CORS_MAX_AGE_S}]})

    def start_user_pool(self) -> None:
        """The tenant's user pool in moto, the app's settings pointing at it, and the demo admin."""
        import boto3

        if str(CLOUD_DIR) not in sys.path:
            sys.path.insert(0, str(CLOUD_DIR))
        from chalicelib.services.users import temporary_password

        cognito = boto3.client("cognito-idp", endpoint_url=self.moto_url, region_name="us-east-1")
        self.pool = create_pool(cognito, Namespace(self.tenant, self.stage))
        os.environ.update({
            "CLASSTOP_USER_POOL_ID": self.pool.pool_id,
            "CLASSTOP_USER_POOL_CLIENT_ID": self.pool.client_id,
            # moto serves every pool's JWKS on its own server (docs/field-notes.md)
            "CLASSTOP_USER_POOL_JWKS_URL": f"{self.moto_url}/{self.pool.pool_id}/.well-known/jwks.json",
        })
        if urlsplit(self.moto_url).hostname in ("127.0.0.1", "::1", "localhost"):
            # invitations answer their temporary password (no e-mail here); the settings refuse it for an endpoint
            # that is not loopback (a twin in its own network namespace, as tests/e2e runs it, invites nobody)
            os.environ["CLASSTOP_REVEAL_TEMPORARY_PASSWORDS"] = "1"
        password = temporary_password()
        create_demo_admin(cognito, self.pool, password)
        self.demo_user = (DEMO_ADMIN_EMAIL, password)
        log.info("user pool %s, app client %s", self.pool.pool_id, self.pool.client_id)

    def start_broker_link(self) -> None:
        from chalicelib import container
        from chalicelib.adapters.iot import IotDataPublisher
        from chalicelib.adapters.registry import IotRegistry
        from chalicelib.adapters.shadows import IotShadowStore

        self.mqtt = MqttClient(self.identity(IOT_CORE_CLIENT), name="local-cloud")
        control = DynsecControl(self.identity(ADMIN_CLIENT, persistent=False))
        control.start()
        self.lifecycle.on_stop("stand-in access", control.stop)
        access = StandInAccess(control, IotPolicy(site_policy(Namespace(self.tenant, self.stage))))

        settings = container.get().settings
        inner = IotDataPublisher(endpoint_url=settings.aws_endpoint, region=settings.region)
        self.shadow_service = ShadowService(ShadowDocuments(), self.mqtt)
        shadow_api = ShadowApi(self.shadow_service.documents, self.shadow_service.notifier, host=self.host)
        shadow_api.start()
        self.lifecycle.on_stop("shadow REST API", shadow_api.stop)
        shadow_store = IotShadowStore(endpoint_url=shadow_api.url, region=settings.region)
        issuer = StandInIssuer(IotRegistry(endpoint_url=settings.aws_endpoint, region=settings.region), access)
        container.configure(publisher=TwinPublisher(inner, self.mqtt), shadows=shadow_store, issuer=issuer)
        self.shadow_service.start()  # subscribed on connect
        self.mqtt.start(wait_s=10)
        self.lifecycle.on_stop("broker link", self.mqtt.stop)
        self.lifecycle.on_stop("shadow service", self.shadow_service.stop)

    def start_rules(self) -> None:
        from chalicelib.handlers import RULE_HANDLERS

        # its own persistent session: what arrives while it reconnects is queued for it by the broker
        rules_mqtt = MqttClient(self.identity(RULES_CLIENT), name="local-rules")
        self.rules = RulesEngine(rules_mqtt, Namespace(self.tenant, self.stage), RULE_HANDLERS)
        self.rules.start()
        rules_mqtt.start(wait_s=10)
        self.lifecycle.on_stop("rules engine", rules_mqtt.stop)

    def start_lifecycle_events(self) -> None:
        """The stand-in's ``$aws/events/presence/...`` (infra/local/lifecycle_events.py), on its own persistent
        session: what the broker logs while it reconnects is queued for it."""
        events = LifecycleEvents(self.identity(LIFECYCLE_CLIENT)).start()
        self.lifecycle.on_stop("lifecycle events", events.stop)

    def identity(self, name: str, *, persistent: bool = True) -> MqttSettings:
        """Settings of a privileged twin IoT Core part on the stand-in broker: its certificate, a fixed client
        id (the broker makes it the certificate's CN anyway) and, ``persistent``, a session kept for a day."""
        return iot_core_settings(self.iot_dir, name, self.broker_host, self.broker_port,
                                 session_expiry_s=86_400 if persistent else 0)

    def start_schedules(self) -> None:
        """The app's ``@app.schedule`` functions (the command sweeper) on the template's rate."""
        assert self.app_module is not None
        schedules = Schedules(self.app_module.app, self.schedule_every_s).start()
        self.lifecycle.on_stop("schedules", schedules.stop)

    def start_http(self) -> None:
        from chalice.config import Config

        assert self.app_module is not None
        config = Config.create(chalice_stage=self.stage, app_name="classtop", project_dir=str(CLOUD_DIR))
        files = WEB_DIR if (WEB_DIR / "dashboard").is_dir() else None
        server = local_server(self.app_module.app, config, self.host, self.api_port, files, self.moto_url)
        thread = threading.Thread(target=server.server.serve_forever, name="chalice-local", daemon=True)
        thread.start()

        def stop_http() -> None:
            server.shutdown()
            thread.join(5)

        self.lifecycle.on_stop("http", stop_http)
        log.info("cloud API on %s", self.api_url)

    def issue_admin_token(self, name: str = "local-admin") -> str:
        from chalicelib import container

        issued = container.get().tokens.create("admin", name)
        return issued.secret


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m infra.local.cloud", description=__doc__.splitlines()[0])
    p.add_argument("--tenant", default="demo")
    p.add_argument("--stage", default="dev")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--api-port", type=int, default=8765)
    p.add_argument("--moto-port", type=int, required=True)
    p.add_argument("--broker-host", default="127.0.0.1")
    p.add_argument("--broker-port", type=int, required=True)
    p.add_argument("--iot-dir", type=Path, required=True,
                   help="the twin's IoT CA (ca.crt, ca.key) and privileged certificates (<identity>.crt/.key)")
    p.add_argument("--token-file", type=Path, required=True, help="where to write the first admin token")
    p.add_argument("--demo-user-file", type=Path, default=None,
                   help="where to write the demo admin's e-mail and password (two lines)")
    p.add_argument("--ready-file", type=Path, required=True)
    p.add_argument("--schedule-every-s", type=float, default=None,
                   help="run the scheduled functions this often (default: their rate in the template)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    cloud = LocalCloud(
        tenant=args.tenant,
        stage=args.stage,
        host=args.host,
        api_port=args.api_port,
        moto_port=args.moto_port,
        broker_host=args.broker_host,
        broker_port=args.broker_port,
        iot_dir=args.iot_dir,
        schedule_every_s=args.schedule_every_s,
    )
    try:
        cloud.start()
        write_atomic(args.token_file, cloud.issue_admin_token() + "\n")
        if args.demo_user_file is not None:
            write_atomic(args.demo_user_file, "\n".join(cloud.demo_user) + "\n")
        args.ready_file.write_text("ready\n")
        stop.wait()
    except Exception as exc:
        log.error("local cloud failed: %s", exc, exc_info=True)
        return 1
    finally:
        cloud.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
