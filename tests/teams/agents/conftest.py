"""The Agents SDK runtime offline: the SDK's Bot Framework JWKS URI pointed at a local key
set served from its own thread (its validator fetches keys with blocking urllib in a worker
thread), tokens signed with the local RS256 key of tests/teams/conftest.py, the endpoint
behind a tiny aiohttp app, and an agent that records its turns."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from microsoft_agents.activity import TurnContextProtocol
from microsoft_agents.hosting.core import ActivityHandler, JwtTokenValidator
from microsoft_agents.hosting.core.authorization import _entra_issuers
from sqlalchemy.ext.asyncio import async_sessionmaker

from bot.metrics import Metrics
from bot.teams.agents.endpoint import AgentsEndpoint, create_agents_endpoint
from bot.teams.card_actions import InvokeAnswer, card_answer
from bot.teams.registration import Registration
from tests.teams.conftest import APP_ID, CARD, CHANNEL_ISSUER, TENANT, Keys, OpenIdServer


def clear_key_cache() -> None:
    """The validator's PyJWKClients are cached per JWKS URI, process-wide."""
    JwtTokenValidator._jwk_client_manager._cache.clear()


@pytest.fixture
def jwks(keys: Keys) -> Iterator[OpenIdServer]:
    """The SDK's Bot Framework JWKS URI pointed at a local key set; restored afterwards."""
    server = OpenIdServer(jwks=[keys.jwk(keys.signing, "local-key-1")])
    server.start()
    uris = _entra_issuers.BOTFRAMEWORK_JWKS_URIS  # the validator holds the same dict
    previous = uris[CHANNEL_ISSUER]
    uris[CHANNEL_ISSUER] = server.url.replace("/.well-known/openid-configuration", "/keys")
    clear_key_cache()
    try:
        yield server
    finally:
        uris[CHANNEL_ISSUER] = previous
        clear_key_cache()
        server.stop()


class RecordingAgent(ActivityHandler):
    """Records turns; may fail or reply."""

    def __init__(self, *, fail: bool = False, reply: bool = False) -> None:
        self.turns: list[tuple[str, str | None]] = []
        self._fail = fail
        self._reply = reply

    async def on_message_activity(self, turn_context: TurnContextProtocol[Any]) -> None:
        self.turns.append(("message", turn_context.activity.text))
        if self._fail:
            raise ValueError(f"cannot handle {turn_context.activity.text!r}")
        if self._reply:
            await turn_context.send_activity("Tack")

    async def on_invoke_activity(self, turn_context: TurnContextProtocol[Any]) -> Any:
        self.turns.append(("invoke", turn_context.activity.name))
        if self._fail:
            raise ValueError(f"cannot handle {turn_context.activity.value!r}")
        return await super().on_invoke_activity(turn_context)


def registration(**over: Any) -> Registration:
    values: dict[str, Any] = {
        "app_id": APP_ID,
        "app_password": "not-a-real-secret",
        "tenant_id": TENANT,
        "allowed_tenants": frozenset({TENANT}),
    }
    values.update(over)
    return Registration(**values)


def endpoint_for(
    reg: Registration, agent: ActivityHandler | None = None, **kwargs: Any
) -> AgentsEndpoint:
    endpoint = create_agents_endpoint(
        reg,
        factory=async_sessionmaker(),  # nothing here reaches the database
        on_change=lambda: None,
        clock=lambda: None,  # type: ignore[arg-type,return-value]
        metrics=Metrics(),
    )
    endpoint.bot = agent or RecordingAgent()  # type: ignore[assignment]
    return endpoint


class Clicks:
    """Stands in for the card actions: records the clicks, answers with `CARD`."""

    def __init__(self) -> None:
        self.seen: list[tuple[Any, str | None, Any]] = []

    async def answer(
        self, value: Any, actor_aad: str | None, activity_id: Any = None
    ) -> InvokeAnswer:
        self.seen.append((value, actor_aad, activity_id))
        return card_answer(CARD)


@pytest.fixture
async def serve() -> AsyncIterator[Any]:
    clients: list[TestClient[web.Request, web.Application]] = []
    endpoints: list[AgentsEndpoint] = []

    async def start(endpoint: AgentsEndpoint) -> TestClient[web.Request, web.Application]:
        app = web.Application()
        app.router.add_post("/api/messages", endpoint.process)
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        endpoints.append(endpoint)
        return client

    yield start
    for client in clients:
        await client.close()
    for endpoint in endpoints:
        await endpoint.close()
