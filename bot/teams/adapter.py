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
- invoke responses end in 500: the SDK serialises an invoke body twice
  (cloud_adapter.py:108); `write_invoke_response` (bot/teams/invoke.py) writes it once.
- bad bodies answered with 500: `request.headers["Content-Type"]` (KeyError when the
  header is missing, cloud_adapter.py:82) and `request.json()` / `Activity.deserialize`
  errors are not caught; we answer 400.
- blocking OpenID metadata: fetched without blocking, see bot/teams/openid.py.
- a `ClientRetryPolicy` per turn: the SDK clients are cached, see bot/teams/sdk_clients.py.

A card click (`adaptiveCard/action`) to a `CardActionBot` skips the SDK's turn after the
same authentication and tenant gate: it costs more CPU than the click's own role check,
and an invoke answer uses nothing it builds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from aiohttp import web
from botbuilder.core import Bot
from botbuilder.integration.aiohttp import (
    CloudAdapter,
    ConfigurationBotFrameworkAuthentication,
)
from botbuilder.schema import Activity, ActivityTypes, ChannelAccount, ConversationAccount
from botframework.connector.auth import BotFrameworkAuthentication

from bot.teams.card_actions import INTERNAL_ERROR_MESSAGE, clicker_aad, is_plain_card_action
from bot.teams.inbound import (
    error_response,
    read_activity_body,
    tenant_of_channel_data,
    traceback_without_messages,
)
from bot.teams.invoke import CardActionBot, adaptive_card_error_response, write_invoke_response
from bot.teams.openid import (
    OpenIdMetadataUnavailable,
    install_nonblocking_openid_metadata,
    prefetch_channel_metadata,
)
from bot.teams.registration import LocalModeRequired, Registration
from bot.teams.sdk_clients import CachingBotFrameworkAuthentication

__all__ = [
    "BotAuthConfig",
    "LocalModeRequired",
    "TeamsAdapter",
    "create_adapter",
    "traceback_without_messages",
]

logger = logging.getLogger(__name__)

_INTERNAL_ERROR_MESSAGE = INTERNAL_ERROR_MESSAGE

BotAuthConfig = Registration
"""The registration the adapter is built from (`bot.teams.registration.Registration`)."""


@dataclass(frozen=True)
class _SdkConfiguration:
    """The attribute names `ConfigurationBotFrameworkAuthentication` and
    `ConfigurationServiceClientCredentialFactory` read from their configuration."""

    APP_ID: str | None
    APP_PASSWORD: str | None
    APP_TYPE: str
    APP_TENANTID: str | None


_error = error_response


def _tenant_id(activity: Activity) -> str | None:
    return tenant_of_channel_data(activity.channel_data)


def _activity_ids(activity: Activity) -> str:
    """Type, name and ids of an activity for the log: never text or user names."""
    conversation = activity.conversation.id if activity.conversation else None
    sender = getattr(activity.from_property, "id", None)
    return (
        f"type={activity.type} name={activity.name} id={activity.id} "
        f"conversation={conversation} from={sender}"
    )


def _is_plain_card_action(body: dict[str, Any]) -> bool:
    """An `adaptiveCard/action` invoke whose routing fields have the types msrest would
    accept (anything else goes through the full deserialisation, and its 400)."""
    return is_plain_card_action(body)


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
    return clicker_aad(body)


def _deserialize_activity(body: dict[str, Any]) -> Activity | web.Response:
    try:
        activity: Activity = Activity().deserialize(body)
    except Exception:  # msrest DeserializationError and friends
        return _error(HTTPStatus.BAD_REQUEST, "body_not_activity")
    if activity.conversation is None or not isinstance(activity.conversation.id, str):
        # nothing could answer it (a reply would fail in the turn: 500); as on agents
        return _error(HTTPStatus.BAD_REQUEST, "body_not_activity")
    return activity


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
                    body.get("value"), _aad_object_id(body), body.get("id")
                )
            else:
                invoke_response = await self.process_activity(auth_result, activity, bot.on_turn)
        except Exception as exc:
            logger.error(
                "Turn failed: %s\n%s", _activity_ids(activity), traceback_without_messages(exc)
            )
            if is_invoke:
                # Teams shows a generic failure for a 500 to an invoke; answer in Swedish.
                return write_invoke_response(
                    adaptive_card_error_response(_INTERNAL_ERROR_MESSAGE, code="InternalError")
                )
            return _error(HTTPStatus.INTERNAL_SERVER_ERROR, "internal_error")

        if invoke_response is None:
            return web.Response(status=HTTPStatus.CREATED)
        try:
            return write_invoke_response(invoke_response)
        except (TypeError, ValueError) as exc:
            logger.error(
                "Invoke response not serialisable: %s\n%s",
                _activity_ids(activity),
                traceback_without_messages(exc),
            )
            return write_invoke_response(
                adaptive_card_error_response(_INTERNAL_ERROR_MESSAGE, code="InternalError")
            )

    @staticmethod
    async def _read_body(request: web.Request) -> dict[str, Any] | web.Response:
        """The request body as a JSON object with a `type`, or a 400/413 response
        (`bot.teams.inbound.read_activity_body`).

        The SDK reads `request.headers["Content-Type"]` (KeyError → 500 when missing)
        and lets JSON and msrest deserialisation errors escape as 500.
        """
        return await read_activity_body(request)

    async def close(self) -> None:
        """Release the cached SDK connector clients (call at application shutdown)."""
        authentication = self.bot_framework_authentication
        if isinstance(authentication, CachingBotFrameworkAuthentication):
            await authentication.close()

    async def prefetch_openid_metadata(self) -> None:
        """Fetch the Bot Framework channel keys now (e.g. at start-up) instead of on the
        first request. Failures are logged; requests will try again."""
        await prefetch_channel_metadata()


def create_adapter(config: BotAuthConfig, *, openid_metadata_timeout: float = 10.0) -> TeamsAdapter:
    """Build the Teams adapter from the bot's registration.

    Raises `LocalModeRequired` when there is no app id and `config.local` is False
    (the SDK would silently accept unauthenticated requests), and `ValueError` for an
    incomplete SingleTenant / UserAssignedMSI registration. `openid_metadata_timeout`
    bounds each fetch of the Bot Framework OpenID metadata (process-wide setting).
    """
    install_nonblocking_openid_metadata(openid_metadata_timeout)

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

    authentication = CachingBotFrameworkAuthentication(
        ConfigurationBotFrameworkAuthentication(sdk_config)
    )
    return TeamsAdapter(authentication, allowed_tenants=config.allowed_tenants)
