"""The clients the Agents SDK's turn sends through: the product's `ConnectorClient`.

`ChannelServiceAdapter.process_activity` asks its client factory, on every turn (card
clicks included), for a connector client and a user-token client. The SDK's
`RestChannelServiceClientFactory` fetches two tokens for them (msal's client built on
the event loop, see bot/teams/agents/tokens.py) and opens two new aiohttp sessions per
turn; an Entra ID failure ends even a click in 500. Its `ConnectorClient` cuts every
conversation id to 150 characters, puts ids into the path unquoted and has no timeout.

`ProductClientFactory` hands the turn a `TurnConnector` instead: the replies of a turn
(`turn_context.send_activity`, `update_activity`) go through the product's one
keep-alive `ConnectorClient` (quoted ids, a timeout, the cached token of the outbox).
The user-token client is a stub: frakturkedjan has no OAuth sign-in.
"""

from __future__ import annotations

from typing import Any, NoReturn

from microsoft_agents.activity import Activity, ResourceResponse

from bot.teams.connector import ConnectorClient, SendResult

__all__ = ["ConnectorError", "ProductClientFactory", "TurnConnector"]


class ConnectorError(RuntimeError):
    """The Bot Connector refused or did not answer a send of the turn. The message holds
    the HTTP status and the connector's error code only."""

    def __init__(self, operation: str, result: SendResult) -> None:
        super().__init__(f"{operation}: status {result.status} code {result.error_code}")
        self.result = result


def _json(activity: Activity) -> dict[str, Any]:
    body: dict[str, Any] = activity.model_dump(
        mode="json", by_alias=True, exclude_unset=True, exclude_none=True
    )
    return body


def _resource(operation: str, result: SendResult) -> ResourceResponse:
    if not result.ok:
        raise ConnectorError(operation, result)
    return ResourceResponse(id=result.activity_id or "")


class TurnConversations:
    """The conversation operations the SDK's turn uses (send, reply, update), on the
    product's `ConnectorClient`; any other raises NotImplementedError."""

    def __init__(self, connector: ConnectorClient, service_url: str) -> None:
        self._connector = connector
        self._service_url = service_url

    async def send_to_conversation(self, conversation_id: str, body: Activity) -> ResourceResponse:
        result = await self._connector.send_activity(
            self._service_url, conversation_id, _json(body)
        )
        return _resource("send", result)

    async def reply_to_activity(
        self, conversation_id: str, activity_id: str, body: Activity
    ) -> ResourceResponse:
        result = await self._connector.reply_to_activity(
            self._service_url, conversation_id, activity_id, _json(body)
        )
        return _resource("reply", result)

    async def update_activity(
        self, conversation_id: str, activity_id: str, body: Activity
    ) -> ResourceResponse:
        result = await self._connector.update_activity(
            self._service_url, conversation_id, activity_id, _json(body)
        )
        return _resource("update", result)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)

        async def not_used(*_args: Any, **_kwargs: Any) -> NoReturn:
            raise NotImplementedError(f"Bot Connector operation {name} is not used here")

        return not_used


class TurnConnector:
    """The `ConnectorClientBase` of one turn: its `conversations` on the product's client,
    for the turn's `serviceUrl`. Closing it leaves the shared client open."""

    def __init__(self, connector: ConnectorClient, service_url: str) -> None:
        self._service_url = service_url
        self._conversations = TurnConversations(connector, service_url)

    @property
    def base_uri(self) -> str:
        return self._service_url

    @property
    def conversations(self) -> TurnConversations:
        return self._conversations

    @property
    def attachments(self) -> NoReturn:
        raise NotImplementedError("attachments are not used here")

    async def close(self) -> None:
        """Nothing to release: the product's client lives as long as the endpoint."""


class NoUserTokens:
    """The user-token client of a turn: frakturkedjan uses no OAuth sign-in, so every
    operation raises NotImplementedError; closing it does nothing."""

    async def close(self) -> None:
        """Nothing to release."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        raise NotImplementedError(f"user tokens ({name}) are not used here")


class ProductClientFactory:
    """A `ChannelServiceClientFactoryBase` whose turns send through `connector`."""

    def __init__(self, connector: ConnectorClient) -> None:
        self._connector = connector
        self._no_user_tokens = NoUserTokens()

    async def create_connector_client(
        self,
        context: Any,
        claims_identity: Any,
        service_url: str,
        audience: str,
        scopes: list[str] | None = None,
        use_anonymous: bool = False,
    ) -> TurnConnector:
        # no serviceUrl: sends fail when tried (ConnectorError), not the turn up front
        return TurnConnector(self._connector, service_url or "")

    async def create_user_token_client(
        self, context: Any, claims_identity: Any, use_anonymous: bool = False
    ) -> NoUserTokens:
        return self._no_user_tokens
