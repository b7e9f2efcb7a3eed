"""Fuzz the device-shadow documents the LMS consumes from IoT Core (docs/protocol.md): an agent's settings shadow
(``update/delta``, ``get/accepted``), its camera shadow (``get/accepted``, ``update/documents``), the LMS's
configuration shadow (``get/accepted``, ``update/documents``, its desired document laid over the local file) and
the rejections (``get/rejected``, ``update/rejected``), through the readers the LMS's shadow workers use.

The property: a reader returns its value or raises ``ValueError`` (the worker logs and counts a bad document);
what it returns is fit to apply — settings are strings, a configuration laid over the local file is refused with a
reason (:class:`CloudConfigError`) or holds finite numbers and reports as strict JSON.
"""

from __future__ import annotations

import json
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given

from edge.lms.cloud.config_sync import STATUS_KEY
from edge.lms.cloud.shadow_sync import _DELTA_READERS
from edge.lms.config import LmsConfig
from edge.lms.config.cloud_config import CloudConfigError, cloud_settable_values, with_cloud_config
from shared.messages.camera_shadow import CameraShadow, CameraShadowDocuments
from shared.messages.lms_config import LmsConfigDocuments, LmsConfigShadow
from shared.messages.shadow import ShadowRejection
from shared.topics import ShadowOp
from tests.fuzz.payloads import dumps, nest, payloads
from tests.fuzz.tally import tally
from tests.fuzz.test_fuzz_configs import finite

REPO = Path(__file__).resolve().parents[2]
NOW = int(time.time())
SETTINGS: list[dict[str, Any]] = [{"state": {"theme_mode": "dark", "font_size": "14"}, "version": 3, "timestamp": NOW},
            {"state": {"desired": {"a": "b"}, "reported": {"a": "c"}, "delta": {"a": "b"}}, "version": 3}]  # fmt: skip
CAMERAS: list[dict[str, Any]] = [{"state": {"desired": {"rev": 1, "cameras": []}}, "version": 1},
           {"current": {"state": {"desired": {"rev": 2, "cameras": []}}, "version": 2}}]  # fmt: skip
LMS_CONFIG: list[dict[str, Any]] = [{"state": {"desired": {"presence_timeout_s": 90.0, "log_level": "INFO",
                                     "classtop": {"client_policy": "open"}}}, "version": 4},
              {"current": {"state": {"desired": {"command_timeout_s": 20.0}}, "version": 5}}]  # fmt: skip
REJECTIONS: list[dict[str, Any]] = [
    {"code": 404, "message": "No shadow exists with name: x"}, {"code": 500, "message": "oops"}
]


@pytest.fixture(scope="module")
def local() -> LmsConfig:
    return LmsConfig.model_validate(tomllib.loads((REPO / "edge/lms/lms.example.toml").read_text()))


@pytest.mark.parametrize("op", [ShadowOp.UPDATE_DELTA, ShadowOp.GET_ACCEPTED], ids=str)
def test_fuzz_settings_shadow(op: ShadowOp) -> None:
    read = _DELTA_READERS[op]

    @given(payload=payloads(*SETTINGS))
    @example(payload=dumps({"state": {"a": nest(300)}, "version": 1}))
    @example(payload=b'{"state": {"desired": {"a": NaN}, "delta": {"a": Infinity}}, "version": 1}')
    def run(payload: bytes) -> None:
        tally(f"LMS settings shadow {op.value}")
        try:
            delta = read(payload)
        except ValueError:
            return
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in delta.items()), delta

    run()


def test_fuzz_camera_shadow() -> None:
    @given(payload=payloads(*CAMERAS))
    @example(payload=dumps({"state": {"desired": {"rev": float("nan"), "cameras": []}}}))
    @example(payload=dumps({"state": {"desired": {"rev": 2**64, "cameras": [nest(300)]}}}))
    def run(payload: bytes) -> None:
        tally("LMS camera shadow get/accepted, update/documents")
        for model in (CameraShadow, CameraShadowDocuments):
            try:
                document = model.model_validate_json(payload)
            except ValueError:
                continue
            json.dumps(json.loads(document.model_dump_json()), allow_nan=False)

    run()


def test_fuzz_lms_config_shadow(local: LmsConfig) -> None:
    @given(payload=payloads(*LMS_CONFIG))
    @example(payload=dumps({"state": {"desired": {"presence_timeout_s": float("inf")}}, "version": 1}))
    @example(payload=dumps({"state": {"desired": {"presence_timeout_s": float("nan")}}, "version": 1}))
    @example(payload=dumps({"state": {"desired": {"classtop": nest(300)}}, "version": 1}))
    @example(payload=dumps({"state": {"desired": {"site_heartbeat_s": 2**70}}, "version": 1}))
    def run(payload: bytes) -> None:
        tally("LMS lms:config shadow get/accepted, update/documents")
        desired: Any = None
        try:
            desired = LmsConfigShadow.model_validate_json(payload).state.desired
        except ValueError:
            try:
                current = LmsConfigDocuments.model_validate_json(payload).current
            except ValueError:
                return
            desired = current.state.desired if current is not None else None
        try:
            effective = with_cloud_config(local, desired or {})
        except CloudConfigError as exc:
            assert str(exc)
            return
        assert finite(effective), desired
        values = cloud_settable_values(effective)
        values[STATUS_KEY] = {"state": "applied"}
        json.dumps(json.loads(json.dumps(values, default=str)), allow_nan=False)

    run()


def test_fuzz_shadow_rejections() -> None:
    @given(payload=payloads(*REJECTIONS))
    def run(payload: bytes) -> None:
        tally("LMS shadow get/rejected, update/rejected")
        try:
            rejection = ShadowRejection.model_validate_json(payload)
        except ValueError:
            return
        assert isinstance(rejection.code, int) and isinstance(rejection.transient, bool)

    run()
