"""The container's adapters (the AWS clients, each made on first use, or what :func:`~chalicelib.container.configure`
injected) and its settings and clock: the base of every other part."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalicelib.config import Settings
from chalicelib.parts.lazy_part import LazyPart, LazyParts

if TYPE_CHECKING:
    from chalicelib.adapters.alert_topic import AlertTopic
    from chalicelib.adapters.iot import Publisher
    from chalicelib.adapters.media import MediaStore
    from chalicelib.adapters.registry import IdentityIssuer
    from chalicelib.adapters.shadows import ShadowStore
    from chalicelib.adapters.user_pool import UserPool
    from chalicelib.adapters.webhooks import WebhookSender
    from chalicelib.observability import MeteredPublisher
    from chalicelib.services.sign_in import PoolPrincipals

Clock = Callable[[], float]


@dataclass(slots=True)
class Overrides:
    settings: Settings | None = None
    publisher: Publisher | None = None
    clock: Clock | None = None
    issuer: IdentityIssuer | None = None
    media: MediaStore | None = None
    shadows: ShadowStore | None = None
    alert_topic: AlertTopic | None = None
    webhooks: WebhookSender | None = None
    user_pool: UserPool | None = None


class AdapterParts(LazyParts):
    """The settings, the clock and the adapters."""

    def __init__(self, settings: Settings, clock: Clock, overrides: Overrides) -> None:
        super().__init__()
        self.settings = settings
        #: the services' clock (the ETag's time window of a route whose answer ages: ``api/etags.py``)
        self.clock = clock
        self._overrides = overrides

    @LazyPart
    def publisher(self) -> Publisher:
        from chalicelib.adapters.iot import IotDataPublisher

        return self._overrides.publisher or IotDataPublisher(endpoint_url=self.settings.iot_data_url,
                                                             region=self.settings.region)

    @LazyPart
    def metered_publisher(self) -> MeteredPublisher:
        from chalicelib.observability import MeteredPublisher

        return MeteredPublisher(self.publisher)

    @LazyPart
    def shadows(self) -> ShadowStore:
        from chalicelib.adapters.shadows import IotShadowStore

        return self._overrides.shadows or IotShadowStore(endpoint_url=self.settings.iot_data_url,
                                                         region=self.settings.region)

    @LazyPart
    def issuer(self) -> IdentityIssuer:
        from chalicelib.adapters.registry import IotRegistry

        return self._overrides.issuer or IotRegistry(endpoint_url=self.settings.aws_endpoint,
                                                     region=self.settings.region)

    @LazyPart
    def media(self) -> MediaStore | None:
        if self._overrides.media is not None:
            return self._overrides.media
        if not self.settings.media_bucket:
            return None
        from chalicelib.adapters.media import S3Media

        return S3Media(self.settings.media_bucket, endpoint_url=self.settings.aws_endpoint,
                       region=self.settings.region)

    @LazyPart
    def user_pool(self) -> UserPool | None:
        """The dashboard's accounts (``None``: the stage has no user pool; the routes answer 503)."""
        settings = self.settings
        if not (settings.user_pool_id and settings.user_pool_client_id and settings.jwks_url):
            return None
        from chalicelib.adapters.user_pool import UserPool

        return self._overrides.user_pool or UserPool(settings.user_pool_id, settings.user_pool_client_id,
                                                     endpoint_url=settings.aws_endpoint, region=settings.region)

    @LazyPart
    def principals(self) -> PoolPrincipals | None:
        pool, settings = self.user_pool, self.settings
        if pool is None or not (settings.user_pool_id and settings.user_pool_client_id and settings.jwks_url):
            return None
        from chalicelib.services.pool_tokens import PoolTokenVerifier
        from chalicelib.services.sign_in import PoolPrincipals

        return PoolPrincipals(PoolTokenVerifier(settings.user_pool_id, settings.user_pool_client_id,
                                                settings.jwks_url, clock=self.clock), pool)
