"""Fixtures of the cloud plane's unit tests (helpers live in ``cloud_testkit``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cloud_testkit import Cloud, running_cloud


@pytest.fixture
def cloud() -> Iterator[Cloud]:
    with running_cloud() as cloud:
        yield cloud
