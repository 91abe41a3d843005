"""SDK connector and user-token clients reused across turns.

Works around botbuilder 4.17.1: every turn builds a `ConnectorClient`
(auth/_connector_factory_impl.py:53) and a `TokenApiClient`
(auth/_user_token_client_impl.py:30), and each builds a msrest `ClientRetryPolicy`
(msrest/universal_http/requests.py:425), a few ms of CPU each, plus a new `requests`
session and a new msal token cache. `CachingBotFrameworkAuthentication` wraps the SDK's
authentication and hands out cached clients instead.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from botbuilder.schema import Activity
from botframework.connector.auth import (
    AuthenticateRequestResult,
    AuthenticationConstants,
    BotFrameworkAuthentication,
    ClaimsIdentity,
    ConnectorFactory,
)

__all__ = ["CachingBotFrameworkAuthentication"]

_CONNECTOR_CACHE_SIZE = 64


def _app_id_of(claims_identity: ClaimsIdentity) -> str | None:
    """The bot app id of a turn, as `_BuiltinBotFrameworkAuthentication.get_app_id`."""
    app_id = claims_identity.get_claim_value(AuthenticationConstants.AUDIENCE_CLAIM)
    if app_id is None:
        app_id = claims_identity.get_claim_value(AuthenticationConstants.APP_ID_CLAIM)
    return None if app_id is None else str(app_id)


class _ClientCache:
    """A small LRU of SDK clients keyed by (app id, service url, audience)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[tuple[str | None, ...], Any] = OrderedDict()

    def get(self, key: tuple[str | None, ...]) -> Any:
        client = self._items.get(key)
        if client is not None:
            self._items.move_to_end(key)
        return client

    def pop_all(self) -> list[Any]:
        clients = list(self._items.values())
        self._items.clear()
        return clients

    def put(self, key: tuple[str | None, ...], client: Any) -> None:
        self._items[key] = client
        self._items.move_to_end(key)
        while len(self._items) > self._size:
            self._items.popitem(last=False)


class _CachingConnectorFactory(ConnectorFactory):  # type: ignore[misc]
    """Reuses `ConnectorClient`s across turns.

    Works around auth/_connector_factory_impl.py:35-55 (4.17.1): `create` builds a new
    `ConnectorClient` with new `MicrosoftAppCredentials` on every turn; its msrest
    configuration builds a `ClientRetryPolicy` (msrest/universal_http/requests.py:425,
    a 500-element status list filtered against a 500-element list), a new `requests`
    session (a new TCP connection per turn) and a new msal app with an empty token
    cache. A cached client keeps the credentials, and with them msal's token cache.
    """

    def __init__(self, inner: Any, app_id: str | None, cache: _ClientCache) -> None:
        self._inner = inner
        self._app_id = app_id
        self._cache = cache

    async def create(self, service_url: str, audience: str | None = None) -> Any:
        key = (self._app_id, service_url, audience)
        client = self._cache.get(key)
        if client is None:
            client = await self._inner.create(service_url, audience)
            self._cache.put(key, client)
        return client


class CachingBotFrameworkAuthentication(BotFrameworkAuthentication):  # type: ignore[misc]
    """Delegates to `ConfigurationBotFrameworkAuthentication`, reusing SDK clients.

    Works around auth/_built_in_bot_framework_authentication.py (4.17.1):
    `authenticate_request` (:93) and `create_connector_factory` (:152) hand out a
    factory that builds a new `ConnectorClient` per call (see `_CachingConnectorFactory`),
    and `create_user_token_client` (:162-174), called on every turn by
    `CloudAdapterBase.process_activity` (core/cloud_adapter_base.py:357), builds a new
    `TokenApiClient` and with it another `ClientRetryPolicy`.
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._connectors = _ClientCache(_CONNECTOR_CACHE_SIZE)
        self._user_token_clients = _ClientCache(_CONNECTOR_CACHE_SIZE)

    async def close(self) -> None:
        """Close the `requests` sessions of the cached SDK clients."""
        clients = [*self._connectors.pop_all(), *self._user_token_clients.pop_all()]
        for client in clients:
            # ConnectorClient (SDKClientAsync) and _UserTokenClientImpl both keep their
            # msrest client in `_client`; leaving its context closes the requests session.
            msrest_client = getattr(client, "_client", None)
            if msrest_client is not None:
                await msrest_client.__aexit__(None, None, None)

    def _wrap(self, factory: Any, claims_identity: ClaimsIdentity) -> Any:
        if factory is None or isinstance(factory, _CachingConnectorFactory):
            return factory
        return _CachingConnectorFactory(factory, _app_id_of(claims_identity), self._connectors)

    async def authenticate_request(
        self, activity: Activity, auth_header: str
    ) -> AuthenticateRequestResult:
        result = await self._inner.authenticate_request(activity, auth_header)
        result.connector_factory = self._wrap(result.connector_factory, result.claims_identity)
        return result

    async def authenticate_streaming_request(
        self, auth_header: str, channel_id_header: str
    ) -> AuthenticateRequestResult:
        return await self._inner.authenticate_streaming_request(auth_header, channel_id_header)

    def create_connector_factory(self, claims_identity: ClaimsIdentity) -> ConnectorFactory:
        return self._wrap(self._inner.create_connector_factory(claims_identity), claims_identity)

    async def create_user_token_client(self, claims_identity: ClaimsIdentity) -> Any:
        key = (_app_id_of(claims_identity),)
        client = self._user_token_clients.get(key)
        if client is None:
            client = await self._inner.create_user_token_client(claims_identity)
            self._user_token_clients.put(key, client)
        return client

    def create_bot_framework_client(self) -> Any:
        return self._inner.create_bot_framework_client()

    def get_originating_audience(self) -> str:
        return str(self._inner.get_originating_audience())

    async def authenticate_channel_request(self, auth_header: str) -> ClaimsIdentity:
        return await self._inner.authenticate_channel_request(auth_header)
