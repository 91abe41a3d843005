"""`TEAMS_SDK=agents`: `POST /api/messages` on the Microsoft 365 Agents SDK 1.9.

The SDK's own `CloudAdapter.process` is not used: it authenticates nothing (its aiohttp
middleware does), answers JSON that is not an activity with 500 (pydantic's
ValidationError escapes), only logs a `serviceurl` mismatch, has no tenant check, and
builds two clients with two token look-ups for every turn, card clicks included.
`AgentsEndpoint.process` does instead, in order:

1. read the body as a JSON activity (`bot.teams.inbound`: 400, 413) and validate it
   with the SDK's model (400 for a ValidationError or no conversation id; a card click
   the model refuses is answered from the raw JSON, as in step 4);
2. authenticate the `Authorization` header with the SDK's `JwtTokenValidator`
   (`bot.teams.agents.auth`: 401 for every refusal, 503 when the keys cannot be had);
   with no app id (local mode only) nothing is authenticated;
3. refuse a tenant outside `allowed_tenants` (403);
4. answer a card click straight from the raw JSON (`bot.teams.card_actions`, no SDK
   turn), or run the SDK's turn, `CloudAdapter.process_activity(claims, activity,
   AgentsBot.on_turn)`, whose sends go through the product's `ConnectorClient`
   (`bot.teams.agents.clients`).

The SDK's default `on_turn_error` posts `"Exception caught : {error}"` (exception text,
possibly patient data) into the chat and prints the traceback; it is replaced: a failed
invoke gets a Swedish error answer (HTTP 200), any other failed turn is logged with
exception types and code locations only and answered 500, as on botbuilder.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable
from datetime import datetime
from functools import partial
from http import HTTPStatus
from typing import Any

from aiohttp import web
from microsoft_agents.activity import Activity, ActivityTypes
from microsoft_agents.authentication.msal import MsalAuth
from microsoft_agents.hosting.aiohttp import CloudAdapter
from microsoft_agents.hosting.core import ClaimsIdentity, TurnContext
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.metrics import Metrics
from bot.teams.agents.auth import (
    ChannelAuthentication,
    KeysUnavailable,
    Unauthorized,
    auth_configuration,
)
from bot.teams.agents.clients import ProductClientFactory
from bot.teams.agents.handler import AgentsBot
from bot.teams.agents.tokens import MsalTokenProvider
from bot.teams.card_actions import (
    CARD_ACTION,
    INTERNAL_ERROR_MESSAGE,
    CardActions,
    clicker_aad,
    error_answer,
    http_response,
    is_plain_card_action,
)
from bot.teams.connector import ConnectorClient, TokenProvider
from bot.teams.inbound import (
    error_response,
    read_activity_body,
    tenant_of_channel_data,
    traceback_without_messages,
)
from bot.teams.registration import LocalModeRequired, Registration

__all__ = ["AgentsEndpoint", "create_agents_endpoint"]

# the inbound transport's logger, the same name as on botbuilder
logger = logging.getLogger("bot.teams.adapter")

_json_dumps = partial(json.dumps, ensure_ascii=False)


class _NoRefusedValues(logging.Filter):
    """Drops the SDK's ERROR line for an activity its model refuses: pydantic's message
    quotes the refused values (user text, possibly a personal identity number). The
    endpoint logs the fields and ids instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Validation error for Activity")


_SDK_MODEL_LOG = logging.getLogger("microsoft_agents.activity.activity")


class _TurnFailed(Exception):
    """A turn failed and `on_turn_error` has logged it: answer 500."""


def _ids_of_body(body: dict[str, Any]) -> str:
    """Type, name and ids of a raw activity for the log: never text or user names."""
    conversation = body.get("conversation")
    sender = body.get("from")
    return (
        f"type={body.get('type')} name={body.get('name')} id={body.get('id')} "
        f"conversation={conversation.get('id') if isinstance(conversation, dict) else None} "
        f"from={sender.get('id') if isinstance(sender, dict) else None}"
    )


def _ids_of(activity: Activity) -> str:
    """The same for the SDK's activity."""
    conversation = activity.conversation.id if activity.conversation else None
    sender = activity.from_property.id if activity.from_property else None
    return (
        f"type={activity.type} name={activity.name} id={activity.id} "
        f"conversation={conversation} from={sender}"
    )


def _invoke_error() -> dict[str, Any]:
    """The `invokeResponse` activity's value for a failed invoke (a Swedish error)."""
    answer = error_answer(INTERNAL_ERROR_MESSAGE, code="InternalError")
    return {"status": answer.status, "body": answer.body}


class AgentsEndpoint:
    """`POST /api/messages` on the Agents SDK, and the bot's outbound token."""

    def __init__(
        self,
        registration: Registration,
        *,
        factory: async_sessionmaker[AsyncSession],
        on_change: Callable[[], None],
        clock: Callable[[], datetime],
        metrics: Metrics,
        key_timeout: float = 10.0,
    ) -> None:
        if not any(isinstance(f, _NoRefusedValues) for f in _SDK_MODEL_LOG.filters):
            _SDK_MODEL_LOG.addFilter(_NoRefusedValues())
        self._allowed_tenants = registration.allowed_tenants
        self._auth: ChannelAuthentication | None = None
        self._tokens: TokenProvider | None = None
        if registration.app_id:
            configuration = auth_configuration(registration)
            self._auth = ChannelAuthentication(configuration, timeout=key_timeout)
            self._tokens = MsalTokenProvider(MsalAuth(configuration))
        # the turn's replies; the outbox has a client of its own on the same token
        self._connector = ConnectorClient(token_provider=self._tokens)
        self._adapter = CloudAdapter(
            channel_service_client_factory=ProductClientFactory(self._connector)
        )
        self._adapter.on_turn_error = self._on_turn_error
        self._card_actions = CardActions(factory, on_change=on_change, clock=clock, metrics=metrics)
        self.bot = AgentsBot(
            factory, card_actions=self._card_actions, on_change=on_change, clock=clock
        )

    # -- TeamsEndpoint ----------------------------------------------------------------

    async def process(self, request: web.Request) -> web.Response:
        """Authenticate, gate and run one activity (see the module docstring)."""
        if request.method != "POST":
            return error_response(HTTPStatus.METHOD_NOT_ALLOWED, "method_not_allowed")
        body = await read_activity_body(request)
        if isinstance(body, web.Response):
            return body
        click = is_plain_card_action(body)
        activity: Activity | None = None
        if not click:
            try:
                activity = Activity.model_validate(body)
            except ValidationError as exc:
                # the refused top-level fields (the model's names, never a value or a key
                # of the sender's)
                fields = sorted({str(error["loc"][0]) for error in exc.errors() if error["loc"]})
                logger.warning(
                    "Body not an activity: fields %s %s", ", ".join(fields), _ids_of_body(body)
                )
                # a click the SDK's model refuses (botbuilder's takes it) still gets an invoke
                # answer, from the raw JSON
                click = body.get("type") == "invoke" and body.get("name") == CARD_ACTION
                if not click:
                    return error_response(HTTPStatus.BAD_REQUEST, "body_not_activity")
            if activity is not None and (
                activity.conversation is None or not activity.conversation.id
            ):
                return error_response(HTTPStatus.BAD_REQUEST, "body_not_activity")

        identity = await self._authenticate(request, body)
        if isinstance(identity, web.Response):
            return identity

        # The SDK never checks the tenant of a channel token.
        tenant = tenant_of_channel_data(body.get("channelData"))
        if self._allowed_tenants and tenant not in self._allowed_tenants:
            logger.warning(
                "Refused activity from a tenant not allowed: tenant=%s %s",
                tenant,
                _ids_of_body(body),
            )
            return error_response(HTTPStatus.FORBIDDEN, "tenant_not_allowed")

        if click:
            return await self._answer_click(body)
        assert activity is not None
        return await self._run_turn(identity, activity, body)

    def token_provider(self) -> TokenProvider | None:
        return self._tokens

    async def prefetch(self) -> None:
        if self._auth is not None:
            await self._auth.prefetch()

    async def close(self) -> None:
        await self._connector.close()

    # -- the steps ----------------------------------------------------------------------

    async def _authenticate(
        self, request: web.Request, body: dict[str, Any]
    ) -> ClaimsIdentity | web.Response:
        if self._auth is None:  # local mode (create_agents_endpoint checked it)
            return ClaimsIdentity()
        try:
            return await self._auth.authenticate(
                request.headers.get("Authorization", ""), body.get("serviceUrl")
            )
        except KeysUnavailable as exc:
            logger.error("Bot Framework signing keys unavailable (%s); answering 503", exc)
            return error_response(HTTPStatus.SERVICE_UNAVAILABLE, "auth_metadata_unavailable")
        except Unauthorized as exc:
            logger.warning(
                "Refused activity: authentication failed (%s) type=%s channel=%s",
                exc,
                body.get("type"),
                body.get("channelId"),
            )
            return error_response(HTTPStatus.UNAUTHORIZED, "unauthorized")

    async def _answer_click(self, body: dict[str, Any]) -> web.Response:
        """A card click from the raw JSON: no SDK activity, turn, clients or tokens."""
        try:
            answer = await self._card_actions.answer(
                body.get("value"), clicker_aad(body), body.get("id")
            )
        except Exception as exc:  # `answer` catches the verb's faults; this is ours
            logger.error("Turn failed: %s\n%s", _ids_of_body(body), traceback_without_messages(exc))
            answer = error_answer(INTERNAL_ERROR_MESSAGE, code="InternalError")
        return http_response(answer)

    async def _run_turn(
        self, identity: ClaimsIdentity, activity: Activity, body: dict[str, Any]
    ) -> web.Response:
        is_invoke = activity.type == ActivityTypes.invoke
        try:
            invoke_response = await self._adapter.process_activity(
                identity, activity, self.bot.on_turn
            )
        except Exception as exc:  # before or after the pipeline, or `_on_turn_error`'s
            if not isinstance(exc, _TurnFailed):  # `_TurnFailed` is logged already
                logger.error(
                    "Turn failed: %s\n%s", _ids_of_body(body), traceback_without_messages(exc)
                )
            if is_invoke:
                return http_response(error_answer(INTERNAL_ERROR_MESSAGE, code="InternalError"))
            return error_response(HTTPStatus.INTERNAL_SERVER_ERROR, "internal_error")
        if invoke_response is None:
            return web.Response(status=HTTPStatus.CREATED)
        status = int(invoke_response.status or HTTPStatus.NOT_IMPLEMENTED)
        response_body = invoke_response.body
        if response_body is None:
            return web.Response(status=status)
        try:
            if isinstance(response_body, BaseModel):
                response_body = response_body.model_dump(
                    mode="json", by_alias=True, exclude_none=True
                )
            return web.json_response(response_body, status=status, dumps=_json_dumps)
        except (TypeError, ValueError) as exc:
            # e.g. the SDK's own adaptive-card error answer, whose value is an Exception
            logger.error(
                "Invoke response not serialisable: %s\n%s",
                _ids_of_body(body),
                traceback_without_messages(exc),
            )
            return http_response(error_answer(INTERNAL_ERROR_MESSAGE, code="InternalError"))

    async def _on_turn_error(self, context: TurnContext, error: Exception) -> None:
        """Replaces the SDK's default, which posts the exception's text into the chat."""
        activity = context.activity
        logger.error("Turn failed: %s\n%s", _ids_of(activity), traceback_without_messages(error))
        if activity.type == ActivityTypes.invoke:
            with contextlib.suppress(Exception):
                await context.send_activity(
                    Activity(type=ActivityTypes.invoke_response, value=_invoke_error())
                )
                return
        raise _TurnFailed from None


def create_agents_endpoint(
    registration: Registration,
    *,
    factory: async_sessionmaker[AsyncSession],
    on_change: Callable[[], None],
    clock: Callable[[], datetime],
    metrics: Metrics,
) -> AgentsEndpoint:
    """The Agents SDK endpoint.

    Raises `LocalModeRequired` when there is no app id and `registration.local` is False
    (the endpoint would accept unauthenticated requests), and `ValueError` for an
    incomplete SingleTenant / UserAssignedMSI registration.
    """
    if not registration.app_id:
        if not registration.local:
            raise LocalModeRequired(
                "MicrosoftAppId is not set: refusing to accept unauthenticated Teams "
                "requests. Set MicrosoftAppId (and password, tenant) or run in local mode."
            )
        logger.warning(
            "!!! LOCAL MODE: MicrosoftAppId is not set; POST /api/messages accepts "
            "UNAUTHENTICATED requests. Never run like this outside a developer machine. !!!"
        )
    else:
        app_type = registration.app_type.lower()
        if app_type == "singletenant" and not (
            registration.app_password and registration.tenant_id
        ):
            raise ValueError("SingleTenant needs MicrosoftAppPassword and MicrosoftAppTenantId")
        if app_type == "userassignedmsi" and not registration.tenant_id:
            raise ValueError("UserAssignedMSI needs MicrosoftAppTenantId")
        if not registration.allowed_tenants:
            logger.warning("ALLOWED_TENANTS is empty: activities from any tenant are accepted")
    return AgentsEndpoint(
        registration, factory=factory, on_change=on_change, clock=clock, metrics=metrics
    )
