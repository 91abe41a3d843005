"""The inbound transport between Teams and the bot, on botbuilder 4.17.1.

`create_adapter` builds a `TeamsAdapter`: the SDK's aiohttp `CloudAdapter` with
`ConfigurationBotFrameworkAuthentication`, plus small overrides for the known traps of
the last (archived) SDK release. Each override names the SDK code it works around:

- unauthenticated by accident: with no app id the SDK accepts any request
  (`PasswordServiceClientCredentialFactory.is_authentication_disabled`); we refuse to
  build such an adapter unless local mode is asked for (`LocalModeRequired`).
- forged tokens answered with 500: `CloudAdapter.process` maps only `PermissionError`
  to 401 (integration/aiohttp/cloud_adapter.py:114); PyJWT errors (bad signature or
  expired: connector/auth/jwt_token_extractor.py:109; garbage: skill_validation.py:42),
  the `IndexError` for an unknown key id (jwt_token_extractor.py:152) and the
  endorsement `Exception` (ibid. :91) escape as 500. `TeamsAdapter.process`
  authenticates first, on its own, and answers every authentication failure with 401.
- no tenant check: nothing in the SDK looks at `channelData.tenant.id`; the adapter
  answers 403 for tenants outside `allowed_tenants` before the bot runs.
- invoke responses end in 500: `ActivityHandler._create_invoke_response` already turns
  the body into a dict (core/activity_handler.py:541) and `CloudAdapter.process`
  serialises it again with msrest (cloud_adapter.py:108), which raises
  `AttributeError: 'dict' object has no attribute 'is_xml_model'`. We write the body
  as JSON ourselves.
- bad bodies answered with 500: `request.headers["Content-Type"]` (KeyError when the
  header is missing, cloud_adapter.py:82) and `request.json()` / `Activity.deserialize`
  errors are not caught; we answer 400.
- blocking OpenID metadata: `_OpenIdMetadata._refresh` calls `requests.get` without a
  timeout inside the event loop (jwt_token_extractor.py:140-147), on the first request
  and every 24 hours. We replace the SDK's metadata objects with a subclass that fetches
  with aiohttp, a timeout, and one fetch at a time.
- msrest `ClientRetryPolicy` per turn: every turn builds a `ConnectorClient`
  (auth/_connector_factory_impl.py:53) and a `TokenApiClient`
  (auth/_user_token_client_impl.py:30), and each builds a `ClientRetryPolicy`
  (msrest/universal_http/requests.py:425), a few ms of CPU each. We cache both.
- `AdaptiveCardInvokeValue` drops `trigger` (schema/_models_py3.py:2625), and
  `AdaptiveCardInvokeResponse.value` is typed `{object}` (ibid. :2600), so msrest cannot
  serialise a message-type response (a string value: SerializationError):
  `trigger_of`, `adaptive_card_invoke_response` and `adaptive_card_error_response`
  work on the raw JSON instead.

A card click (`adaptiveCard/action`) to a `CardActionBot` skips the SDK's turn after the
same authentication and tenant gate: it costs more CPU than the click's own role check,
and an invoke answer uses nothing it builds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import traceback
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from http import HTTPStatus
from typing import Any, Protocol, runtime_checkable

import aiohttp
from aiohttp import web
from botbuilder.core import Bot, InvokeResponse, serializer_helper
from botbuilder.integration.aiohttp import (
    CloudAdapter,
    ConfigurationBotFrameworkAuthentication,
)
from botbuilder.schema import Activity, ActivityTypes, ChannelAccount, ConversationAccount
from botframework.connector.auth import (
    AuthenticateRequestResult,
    AuthenticationConstants,
    BotFrameworkAuthentication,
    ChannelValidation,
    ClaimsIdentity,
    ConnectorFactory,
)
from botframework.connector.auth.jwt_token_extractor import (
    JwtTokenExtractor,
    _OpenIdConfig,
    _OpenIdMetadata,
)
from jwt.algorithms import RSAAlgorithm
from msrest.serialization import Model

__all__ = [
    "ADAPTIVE_CARD_CONTENT_TYPE",
    "ERROR_CONTENT_TYPE",
    "BotAuthConfig",
    "CardActionBot",
    "LocalModeRequired",
    "OpenIdMetadataUnavailable",
    "TeamsAdapter",
    "adaptive_card_error_response",
    "adaptive_card_invoke_response",
    "create_adapter",
    "traceback_without_messages",
    "trigger_of",
]

logger = logging.getLogger(__name__)

ADAPTIVE_CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
ERROR_CONTENT_TYPE = "application/vnd.microsoft.error"

_INTERNAL_ERROR_MESSAGE = "Något gick fel. Försök igen om en stund."
_CONNECTOR_CACHE_SIZE = 64
_METADATA_FAILURE_BACKOFF = 30.0  # seconds between metadata attempts after a failure
_json_dumps = partial(json.dumps, ensure_ascii=False)


@dataclass(frozen=True)
class BotAuthConfig:
    """The bot's Azure registration (MicrosoftAppId, MicrosoftAppPassword,
    MicrosoftAppType, MicrosoftAppTenantId) and the transport policy.

    With no `app_id` the adapter runs unauthenticated, which `create_adapter` allows
    only with `local=True`. A non-empty `allowed_tenants` refuses activities from other
    tenants (`channelData.tenant.id`).
    """

    app_id: str | None
    app_password: str | None
    app_type: str = "SingleTenant"
    tenant_id: str | None = None
    local: bool = False
    allowed_tenants: frozenset[str] = frozenset()


class LocalModeRequired(RuntimeError):
    """No app id is configured and local (unauthenticated) mode was not asked for."""


class OpenIdMetadataUnavailable(RuntimeError):
    """The Bot Framework OpenID configuration or key set could not be fetched."""


# --------------------------------------------------------------------------------------
# OpenID metadata without blocking the event loop
# --------------------------------------------------------------------------------------


class _NonBlockingOpenIdMetadata(_OpenIdMetadata):  # type: ignore[misc]
    """The SDK's per-URL OpenID metadata cache entry, fetched without blocking.

    Works around botframework/connector/auth/jwt_token_extractor.py (4.17.1):
    - `_OpenIdMetadata._refresh` (:140-147) calls `requests.get` twice, without a
      timeout, inside the event loop; a slow metadata server stalls every request.
      Here: aiohttp with a total timeout, one fetch at a time (concurrent requests
      wait for the same fetch), and after a failure a pause before the next attempt.
      When a refresh fails but keys are known, the known keys stay in use.
    - `_OpenIdMetadata._find` (:152) indexes `[0]` into the matching keys, so an unknown
      key id raises `IndexError` before `get` (:134) can refresh for a rotated key.
      Here `_find` returns None, which lets key rotation work and makes the SDK fail
      the token (our adapter answers 401).
    The SDK's `get` (when to refresh: after 24 h, or for an unknown key id after 1 h)
    is kept as it is.
    """

    keys: list[Any]
    last_updated: datetime

    def __init__(self, url: str, cache: _NonBlockingMetadataCache) -> None:
        super().__init__(url)
        self._cache = cache
        self._fetch_task: asyncio.Task[None] | None = None
        self._retry_not_before = 0.0
        self._parsed: dict[str, Any] = {}

    async def _refresh(self) -> None:
        task = self._fetch_task
        if task is None or task.done() or task.get_loop() is not asyncio.get_running_loop():
            if time.monotonic() < self._retry_not_before:
                if self.keys:
                    return  # keep the last good keys until the pause is over
                raise OpenIdMetadataUnavailable(f"OpenID metadata unavailable: {self.url}")
            task = asyncio.get_running_loop().create_task(self._fetch())
            # retrieve the outcome even when every waiting request was cancelled
            task.add_done_callback(lambda done: done.cancelled() or done.exception())
            self._fetch_task = task
        # shield: a cancelled request must not cancel the fetch other requests wait for
        await asyncio.shield(task)

    async def _fetch(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self._cache.timeout)
        try:
            # trust_env: honour HTTPS_PROXY / NO_PROXY like `requests` in the SDK does
            async with aiohttp.ClientSession(timeout=timeout, trust_env=True) as session:
                async with session.get(self.url) as response:
                    response.raise_for_status()
                    configuration = await response.json(content_type=None)
                async with session.get(configuration["jwks_uri"]) as response:
                    response.raise_for_status()
                    keys = (await response.json(content_type=None))["keys"]
            if not isinstance(keys, list):
                raise TypeError("keys is not a list")
        except (aiohttp.ClientError, TimeoutError, KeyError, TypeError, ValueError) as exc:
            self._retry_not_before = time.monotonic() + _METADATA_FAILURE_BACKOFF
            if self.keys:
                logger.warning(
                    "OpenID metadata refresh failed (%s: %s); keeping the known keys",
                    type(exc).__name__,
                    self.url,
                )
                return
            raise OpenIdMetadataUnavailable(f"OpenID metadata unavailable: {self.url}") from exc
        self.keys = keys
        self._parsed = {}
        self.last_updated = datetime.now()  # naive local time, as the SDK's `get` compares

    def _find(self, key_id: str) -> Any:
        if key_id in self._parsed:
            return self._parsed[key_id]
        for key in self.keys:
            if isinstance(key, dict) and key.get("kid") == key_id:
                config = _OpenIdConfig(
                    RSAAlgorithm.from_jwk(json.dumps(key)), key.get("endorsements", [])
                )
                self._parsed[key_id] = config
                return config
        return None

    def is_fresh(self) -> bool:
        """Whether the SDK's `get` would use the keys without refreshing."""
        return bool(self.keys) and self.last_updated >= datetime.now() - timedelta(days=1)


class _NonBlockingMetadataCache(dict[str, _OpenIdMetadata]):
    """Replacement for `JwtTokenExtractor.metadataCache` that hands out
    `_NonBlockingOpenIdMetadata` for every metadata URL.

    `JwtTokenExtractor.get_open_id_metadata` (jwt_token_extractor.py:29-34) looks up
    `metadataCache.get(url)` and builds a plain `_OpenIdMetadata` on a miss; the
    extractor itself is built inside static validation methods (channel, emulator, skill,
    government, enterprise), so this class-level cache is the only place where the
    metadata object can be chosen. Overriding `get` covers every URL, including ones set
    later (`ChannelValidation.open_id_metadata_endpoint`).
    """

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def get(self, url: str, default: Any = None) -> _OpenIdMetadata:
        metadata = super().get(url)
        if not isinstance(metadata, _NonBlockingOpenIdMetadata):
            metadata = _NonBlockingOpenIdMetadata(url, self)
            self[url] = metadata
        return metadata


def _install_nonblocking_openid_metadata(timeout: float) -> _NonBlockingMetadataCache:
    """Install (once per process) the non-blocking metadata cache; set its timeout."""
    cache = JwtTokenExtractor.metadataCache
    if not isinstance(cache, _NonBlockingMetadataCache):
        cache = _NonBlockingMetadataCache(timeout)
        JwtTokenExtractor.metadataCache = cache
    cache.timeout = timeout
    return cache


def _channel_metadata_url() -> str:
    url = ChannelValidation.open_id_metadata_endpoint
    return str(url or AuthenticationConstants.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL)


# --------------------------------------------------------------------------------------
# Connector clients reused across turns
# --------------------------------------------------------------------------------------


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


class _CachingBotFrameworkAuthentication(BotFrameworkAuthentication):  # type: ignore[misc]
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


# --------------------------------------------------------------------------------------
# The adapter
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _SdkConfiguration:
    """The attribute names `ConfigurationBotFrameworkAuthentication` and
    `ConfigurationServiceClientCredentialFactory` read from their configuration."""

    APP_ID: str | None
    APP_PASSWORD: str | None
    APP_TYPE: str
    APP_TENANTID: str | None


def _error(status: HTTPStatus, code: str) -> web.Response:
    return web.json_response({"error": code}, status=int(status))


def _tenant_id(activity: Activity) -> str | None:
    channel_data = activity.channel_data
    if not isinstance(channel_data, dict):
        return None
    tenant = channel_data.get("tenant")
    if not isinstance(tenant, dict):
        return None
    tenant_id = tenant.get("id")
    return tenant_id if isinstance(tenant_id, str) else None


def _activity_ids(activity: Activity) -> str:
    """Type, name and ids of an activity for the log: never text or user names."""
    conversation = activity.conversation.id if activity.conversation else None
    sender = getattr(activity.from_property, "id", None)
    return (
        f"type={activity.type} name={activity.name} id={activity.id} "
        f"conversation={conversation} from={sender}"
    )


@runtime_checkable
class CardActionBot(Protocol):
    """A bot that answers `adaptiveCard/action` invokes from the raw JSON.

    `TeamsAdapter.process` gives such a bot a card click after authentication and the
    tenant gate, without the SDK's turn: no msrest `Activity` (deserialising one costs
    more than the bot's role check), no `TurnContext`, connector or middleware, none of
    which an invoke answer uses.
    """

    async def answer_card_action(self, value: Any, actor_aad: str | None) -> InvokeResponse:
        """The answer to a click: `value` is the activity's raw `value`, `actor_aad` the
        clicker's Entra object id (`from.aadObjectId`)."""
        ...


_ROUTING_TEXT_FIELDS = ("id", "channelId", "serviceUrl")
_ROUTING_ACCOUNTS = ("conversation", "from", "recipient")


def _is_plain_card_action(body: dict[str, Any]) -> bool:
    """An `adaptiveCard/action` invoke whose routing fields have the types msrest would
    accept (anything else goes through the full deserialisation, and its 400)."""
    if body.get("type") != ActivityTypes.invoke or body.get("name") != "adaptiveCard/action":
        return False
    if any(not isinstance(body.get(k, ""), str) for k in _ROUTING_TEXT_FIELDS):
        return False
    if not isinstance(body.get("channelData", {}), dict):
        return False
    for key in _ROUTING_ACCOUNTS:
        account = body.get(key, {})
        if not isinstance(account, dict):
            return False
        if any(not isinstance(account.get(k, ""), str) for k in ("id", "role", "aadObjectId")):
            return False
    return True


def _routing_activity(body: dict[str, Any]) -> Activity:
    """The fields of a card click that authentication (channel, service URL, recipient
    role), the tenant gate (`channelData`) and the log (ids) read."""
    conversation = body.get("conversation", {})
    sender = body.get("from", {})
    recipient = body.get("recipient", {})
    return Activity(
        type=body["type"],
        name=body["name"],
        id=body.get("id"),
        channel_id=body.get("channelId"),
        service_url=body.get("serviceUrl"),
        channel_data=body.get("channelData"),
        conversation=ConversationAccount(id=conversation.get("id")),
        from_property=ChannelAccount(id=sender.get("id")),
        recipient=ChannelAccount(id=recipient.get("id"), role=recipient.get("role")),
    )


def _aad_object_id(body: dict[str, Any]) -> str | None:
    aad: str | None = body.get("from", {}).get("aadObjectId")
    return aad


def _deserialize_activity(body: dict[str, Any]) -> Activity | web.Response:
    try:
        activity: Activity = Activity().deserialize(body)
    except Exception:  # msrest DeserializationError and friends
        return _error(HTTPStatus.BAD_REQUEST, "body_not_activity")
    return activity


def traceback_without_messages(exc: BaseException) -> str:
    """Exception types and code locations, without exception messages (which may carry
    patient data or user text)."""
    parts: list[str] = []
    current: BaseException | None = exc
    while current is not None and len(parts) < 5:
        frames = "".join(traceback.format_tb(current.__traceback__))
        parts.append(f"{type(current).__qualname__}\n{frames}")
        current = current.__cause__ or current.__context__
    return "caused by ".join(parts)


class TeamsAdapter(CloudAdapter):  # type: ignore[misc]
    """`CloudAdapter` for `POST /api/messages` with the 4.17.1 traps handled.

    Use `process` from the aiohttp route. Do not set `on_turn_error`: `process` logs a
    failed turn itself and chooses the HTTP answer.
    """

    def __init__(
        self,
        bot_framework_authentication: BotFrameworkAuthentication,
        *,
        allowed_tenants: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__(bot_framework_authentication)
        self.allowed_tenants = allowed_tenants

    async def process(self, request: web.Request, bot: Bot) -> web.Response:
        """Authenticate, gate and run one Bot Framework activity; never answer a failed
        authentication with 500.

        201 for a processed activity, the bot's status and JSON body for an invoke,
        400 for a body that is not an activity, 401 for any authentication failure,
        403 for a tenant outside `allowed_tenants`, 503 when the OpenID metadata is
        unreachable, 500 when the bot fails on a non-invoke activity.
        """
        if request.method != "POST":
            return _error(HTTPStatus.METHOD_NOT_ALLOWED, "method_not_allowed")

        body = await self._read_body(request)
        if isinstance(body, web.Response):
            return body
        # A card click is answered without the SDK's turn (see `CardActionBot`).
        card_action = isinstance(bot, CardActionBot) and _is_plain_card_action(body)
        activity = _routing_activity(body) if card_action else _deserialize_activity(body)
        if isinstance(activity, web.Response):
            return activity

        # Authenticate here rather than inside `process_activity`, so that failures of
        # authentication and failures of the bot can be told apart. The SDK raises
        # PermissionError, PyJWT errors, IndexError, AttributeError or a bare Exception
        # for forged tokens (see the module docstring); all of them mean 401.
        auth_header = request.headers.get("Authorization", "")
        try:
            auth_result = await self.bot_framework_authentication.authenticate_request(
                activity, auth_header
            )
        except OpenIdMetadataUnavailable:
            logger.error("Bot Framework OpenID metadata unavailable; answering 503")
            return _error(HTTPStatus.SERVICE_UNAVAILABLE, "auth_metadata_unavailable")
        except Exception as exc:
            logger.warning(
                "Refused activity: authentication failed (%s) type=%s channel=%s",
                type(exc).__name__,
                activity.type,
                activity.channel_id,
            )
            return _error(HTTPStatus.UNAUTHORIZED, "unauthorized")

        # The SDK never checks the tenant of a channel token.
        if self.allowed_tenants and _tenant_id(activity) not in self.allowed_tenants:
            logger.warning(
                "Refused activity from a tenant not allowed: tenant=%s %s",
                _tenant_id(activity),
                _activity_ids(activity),
            )
            return _error(HTTPStatus.FORBIDDEN, "tenant_not_allowed")

        is_invoke = activity.type == ActivityTypes.invoke
        try:
            if card_action:
                assert isinstance(bot, CardActionBot)
                invoke_response = await bot.answer_card_action(
                    body.get("value"), _aad_object_id(body)
                )
            else:
                invoke_response = await self.process_activity(auth_result, activity, bot.on_turn)
        except Exception as exc:
            logger.error(
                "Turn failed: %s\n%s", _activity_ids(activity), traceback_without_messages(exc)
            )
            if is_invoke:
                # Teams shows a generic failure for a 500 to an invoke; answer in Swedish.
                return self._write_invoke_response(
                    adaptive_card_error_response(_INTERNAL_ERROR_MESSAGE, code="InternalError")
                )
            return _error(HTTPStatus.INTERNAL_SERVER_ERROR, "internal_error")

        if invoke_response is None:
            return web.Response(status=HTTPStatus.CREATED)
        try:
            return self._write_invoke_response(invoke_response)
        except (TypeError, ValueError) as exc:
            logger.error(
                "Invoke response not serialisable: %s\n%s",
                _activity_ids(activity),
                traceback_without_messages(exc),
            )
            return self._write_invoke_response(
                adaptive_card_error_response(_INTERNAL_ERROR_MESSAGE, code="InternalError")
            )

    @staticmethod
    async def _read_body(request: web.Request) -> dict[str, Any] | web.Response:
        """The request body as a JSON object with a `type`, or a 400/413 response.

        The SDK reads `request.headers["Content-Type"]` (KeyError → 500 when missing)
        and lets JSON and msrest deserialisation errors escape as 500.
        """
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "too_large")
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError, nesting
            return _error(HTTPStatus.BAD_REQUEST, "body_not_json")
        if not isinstance(body, dict) or not isinstance(body.get("type"), str) or not body["type"]:
            return _error(HTTPStatus.BAD_REQUEST, "body_not_activity")
        return body

    @staticmethod
    def _write_invoke_response(invoke_response: InvokeResponse) -> web.Response:
        """Write an InvokeResponse as JSON, without serialising it a second time.

        `CloudAdapter.process` (cloud_adapter.py:108) passes the body to msrest's
        `serializer_helper` although `ActivityHandler._create_invoke_response`
        (activity_handler.py:541) and `_process_turn_results` (ExpectedReplies,
        cloud_adapter_base.py:439) have already made it a dict; msrest raises
        AttributeError on a dict and the request ends in 500. Only an msrest Model body
        (e.g. from `_InvokeResponseException`) still needs serialising.
        """
        status = int(invoke_response.status or HTTPStatus.OK)
        body = invoke_response.body
        if body is None:
            return web.Response(status=status)
        if isinstance(body, Model):
            body = serializer_helper(body)
        return web.json_response(body, status=status, dumps=_json_dumps)

    async def close(self) -> None:
        """Release the cached SDK connector clients (call at application shutdown)."""
        authentication = self.bot_framework_authentication
        if isinstance(authentication, _CachingBotFrameworkAuthentication):
            await authentication.close()

    async def prefetch_openid_metadata(self) -> None:
        """Fetch the Bot Framework channel keys now (e.g. at start-up) instead of on the
        first request. Failures are logged; requests will try again."""
        metadata = JwtTokenExtractor.get_open_id_metadata(_channel_metadata_url())
        if isinstance(metadata, _NonBlockingOpenIdMetadata) and metadata.is_fresh():
            return
        try:
            await metadata._refresh()
        except OpenIdMetadataUnavailable:
            logger.warning("Could not prefetch the Bot Framework OpenID metadata")


def create_adapter(config: BotAuthConfig, *, openid_metadata_timeout: float = 10.0) -> TeamsAdapter:
    """Build the Teams adapter from the bot's registration.

    Raises `LocalModeRequired` when there is no app id and `config.local` is False
    (the SDK would silently accept unauthenticated requests), and `ValueError` for an
    incomplete SingleTenant / UserAssignedMSI registration. `openid_metadata_timeout`
    bounds each fetch of the Bot Framework OpenID metadata (process-wide setting).
    """
    _install_nonblocking_openid_metadata(openid_metadata_timeout)

    if not config.app_id:
        if not config.local:
            raise LocalModeRequired(
                "MicrosoftAppId is not set: refusing to accept unauthenticated Teams "
                "requests. Set MicrosoftAppId (and password, tenant) or run in local mode."
            )
        logger.warning(
            "!!! LOCAL MODE: MicrosoftAppId is not set; POST /api/messages accepts "
            "UNAUTHENTICATED requests. Never run like this outside a developer machine. !!!"
        )
        # "MultiTenant" is the SDK's only app type that allows a missing app id.
        sdk_config = _SdkConfiguration(None, None, "MultiTenant", None)
    else:
        app_type = config.app_type.lower()
        if app_type == "singletenant" and not (config.app_password and config.tenant_id):
            raise ValueError("SingleTenant needs MicrosoftAppPassword and MicrosoftAppTenantId")
        if app_type == "userassignedmsi" and not config.tenant_id:
            raise ValueError("UserAssignedMSI needs MicrosoftAppTenantId")
        if not config.allowed_tenants:
            logger.warning("ALLOWED_TENANTS is empty: activities from any tenant are accepted")
        sdk_config = _SdkConfiguration(
            config.app_id, config.app_password, config.app_type, config.tenant_id
        )

    authentication = _CachingBotFrameworkAuthentication(
        ConfigurationBotFrameworkAuthentication(sdk_config)
    )
    return TeamsAdapter(authentication, allowed_tenants=config.allowed_tenants)


# --------------------------------------------------------------------------------------
# Adaptive Card invoke helpers
# --------------------------------------------------------------------------------------


def trigger_of(value: Any) -> str | None:
    """`"automatic"` for an Adaptive Card refresh, `"manual"` for a click, else None, from
    an `adaptiveCard/action` invoke's raw `value`.

    `AdaptiveCardInvokeValue` (botbuilder/schema/_models_py3.py:2625) has no `trigger`
    attribute, so the field is read from the raw JSON.
    """
    trigger = value.get("trigger") if isinstance(value, dict) else None
    return trigger if trigger in ("automatic", "manual") else None


def adaptive_card_invoke_response(card: dict[str, Any]) -> InvokeResponse:
    """HTTP 200 answer to `adaptiveCard/action` that replaces the card with `card`."""
    return InvokeResponse(
        status=int(HTTPStatus.OK),
        body={"statusCode": 200, "type": ADAPTIVE_CARD_CONTENT_TYPE, "value": card},
    )


def adaptive_card_error_response(message: str, *, code: str = "BadRequest") -> InvokeResponse:
    """HTTP 200 answer to `adaptiveCard/action` that shows `message` as an error.

    Built as raw JSON: `AdaptiveCardInvokeResponse.value` is typed `{object}`, and the
    SDK's own error response puts an `Exception` there (activity_handler.py:580), which
    msrest cannot serialise either.
    """
    return InvokeResponse(
        status=int(HTTPStatus.OK),
        body={
            "statusCode": 400,
            "type": ERROR_CONTENT_TYPE,
            "value": {"code": code, "message": message},
        },
    )
