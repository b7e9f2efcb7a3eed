"""Fixtures of the cloud plane's unit tests (helpers live in ``cloud_testkit``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.topics import site_thing_name
from tests.unit.cloud.cloud_testkit import NS, Cloud, iot_client, online, running_cloud


@pytest.fixture
def cloud() -> Iterator[Cloud]:
    with running_cloud() as cloud:
        yield cloud


@pytest.fixture
def site(cloud: Cloud) -> Cloud:
    """Agents a1 (site s1, whose IoT thing exists, as after enrolment) and b1 (site s2, no thing)."""
    cloud.heartbeat("s1", [online("a1")])
    cloud.heartbeat("s2", [online("b1")])
    iot_client().create_thing(thingName=site_thing_name(NS, "s1"))
    return cloud
