"""Fixtures of the enrolment tests: a real Mosquitto with the dynamic-security plugin, the LMS's credentials
service connected to it as the plugin's admin, and helpers to check what a client may see and do."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from edge.lms.enrolment import BrokerCredentials
from shared.mqtt import MqttSettings
from tests.fixtures.brokers import Broker, broker_process, running

ADMIN_USER = "dynsec-admin"
LMS_USER = "lms"


class DynsecBroker(Broker):
    """A :class:`Broker` whose users live in the dynsec plugin (``passwords`` is filled by the tests)."""

    admin_password: str = ""

    def admin_settings(self, *, client_id: str = "lms-dynsec") -> MqttSettings:
        return MqttSettings(
            host=self.host, port=self.port, client_id=client_id, username=ADMIN_USER, password=self.admin_password,
            reconnect_min_s=0.1, reconnect_max_s=0.5,
        )

    def credentials(self, *, timeout_s: float = 5.0) -> BrokerCredentials:
        return BrokerCredentials.connect(
            self.admin_settings(), lms_username=LMS_USER, lms_password=self.passwords[LMS_USER], timeout_s=timeout_s
        )


@pytest.fixture
def dynsec_broker() -> Iterator[DynsecBroker]:
    """A site broker with the dynamic-security plugin; only its admin client exists at first."""
    admin_password = secrets.token_urlsafe(16)
    process = broker_process("dynsec", template="site-dynsec", dynsec_admin=(ADMIN_USER, admin_password))
    broker = DynsecBroker(process, {LMS_USER: secrets.token_urlsafe(16)})
    broker.admin_password = admin_password
    with running(broker):
        yield broker


@pytest.fixture
def credentials(dynsec_broker: DynsecBroker) -> Iterator[BrokerCredentials]:
    service = dynsec_broker.credentials()
    try:
        yield service
    finally:
        service.stop()
