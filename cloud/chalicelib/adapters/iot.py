"""Publishing to AWS IoT Core (``iot-data`` ``Publish``) behind a small :class:`Publisher` protocol."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters.aws import AwsAdapter
from chalicelib.errors import BadRequest, CloudError, Forbidden, NotFound, UpstreamError

if TYPE_CHECKING:
    from mypy_boto3_iot_data import IoTDataPlaneClient
else:
    IoTDataPlaneClient = Any


class Publisher(Protocol):
    """Sends one MQTT message through IoT Core. Raises a :class:`CloudError` when it cannot."""

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None: ...


#: AWS error code -> our exception. The caller of publish is the cloud itself, so "denied" and "not found"
#: are our configuration problems (upstream) unless they clearly concern the request.
_ERRORS: dict[str, type[CloudError]] = {
    "InvalidRequestException": BadRequest,
    "RequestEntityTooLargeException": BadRequest,
    "ResourceNotFoundException": NotFound,
    "UnauthorizedException": Forbidden,
}


class IotDataClient(AwsAdapter[IoTDataPlaneClient]):
    """Holds an ``iot-data`` client: injected, or created on first use (once). Base of the IoT data adapters."""

    SERVICE = "iot-data"


class IotDataPublisher(IotDataClient):
    """The production :class:`Publisher`."""

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        if qos not in (0, 1):
            raise ValueError("IoT Core publishes with QoS 0 or 1")
        try:
            self.client.publish(topic=topic, qos=qos, payload=payload)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", "Unknown"))
            message = f"IoT publish to {topic} failed: {code}: {error.get('Message', '')}".rstrip(": ")
            raise _ERRORS.get(code, UpstreamError)(message) from exc
        except BotoCoreError as exc:
            raise UpstreamError(f"IoT publish to {topic} failed: {exc}") from exc


@dataclass(frozen=True, slots=True)
class PublishedMessage:
    topic: str
    payload: bytes
    qos: int


class RecordingPublisher:
    """A :class:`Publisher` that keeps what it is given (tests, and a twin without a broker).

    ``fail_topics`` makes publishing to those topics raise :class:`UpstreamError`, as IoT Core would.
    """

    def __init__(self, fail_topics: set[str] | None = None) -> None:
        self.messages: list[PublishedMessage] = []
        self.fail_topics: set[str] = set(fail_topics or ())
        self._lock = threading.Lock()

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        if topic in self.fail_topics:
            raise UpstreamError(f"IoT publish to {topic} failed: ServiceUnavailableException")
        with self._lock:
            self.messages.append(PublishedMessage(topic, payload, qos))
