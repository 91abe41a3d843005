"""The Agents SDK 1.9 traps (docs/research/agents-sdk-1.9.md section 9; README "Teams SDK
traps"), each shown on the SDK as it ships and, beside it, what `TEAMS_SDK=agents` does.

"Stock" is the SDK's documented wiring: `jwt_authorization_middleware`, the app's
`agent_configuration` and `CloudAdapter.process`, offline against the local key set of
test_auth.py (its sends go to a fake connector, so no Entra ID is needed).
"""

from __future__ import annotations

import ast
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from microsoft_agents.activity import (
    AdaptiveCardInvokeResponse,
    AdaptiveCardInvokeValue,
)
from microsoft_agents.hosting.aiohttp import CloudAdapter, jwt_authorization_middleware
from microsoft_agents.hosting.core import ActivityHandler, AgentAuthConfiguration
from microsoft_agents.hosting.core.connector.client.connector_client import (
    ConversationsOperations,
)

from bot.teams.agents.clients import ProductClientFactory
from bot.teams.connector import ConnectorClient
from tests.teams.agents.conftest import Clicks, RecordingAgent, endpoint_for, registration
from tests.teams.conftest import (
    APP_ID,
    CHANNEL_ISSUER,
    OTHER_TENANT,
    SECRET_TEXT,
    SERVICE_URL,
    TENANT,
    FakeConnector,
    Keys,
    OpenIdServer,
    bearer,
    card_action,
    sign,
    teams_activity,
)

ROOT = Path(__file__).resolve().parents[3]

# the SDK's middleware reads `app["agent_configuration"]`, a str key
pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")

Post = Callable[..., Awaitable[tuple[int, Any]]]


@pytest.fixture
async def stock(jwks: OpenIdServer) -> AsyncIterator[Callable[..., Awaitable[Post]]]:
    """Start the SDK's stock aiohttp wiring around an agent; returns a poster."""
    clients: list[TestClient[web.Request, web.Application]] = []
    connectors: list[ConnectorClient] = []

    async def start(agent: ActivityHandler, *, middleware: bool = True) -> Post:
        connector = ConnectorClient(token_provider=None)
        adapter = CloudAdapter(channel_service_client_factory=ProductClientFactory(connector))
        app = web.Application(middlewares=[jwt_authorization_middleware] if middleware else [])
        app["agent_configuration"] = AgentAuthConfiguration(
            CLIENTID=APP_ID, TENANTID=TENANT, CLIENTSECRET="not-a-real-secret"
        )

        async def messages(request: web.Request) -> web.StreamResponse:
            response = await adapter.process(request, agent)
            assert response is not None
            return response

        app.router.add_post("/api/messages", messages)
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        connectors.append(connector)

        async def post(activity: Any, headers: dict[str, str]) -> tuple[int, Any]:
            response = await client.post("/api/messages", json=activity, headers=headers)
            return response.status, await response.text()

        return post

    yield start
    for client in clients:
        await client.close()
    for connector in connectors:
        await connector.close()


async def ours(serve: Any, agent: ActivityHandler | None = None) -> Post:
    endpoint = endpoint_for(registration(), agent or RecordingAgent())
    clicks = Clicks()
    endpoint._card_actions = clicks  # type: ignore[assignment]
    client = await serve(endpoint)

    async def post(activity: Any, headers: dict[str, str]) -> tuple[int, Any]:
        response = await client.post("/api/messages", json=activity, headers=headers)
        return response.status, await response.text()

    return post


# ---------------------------------------------------------------- 1, 2: the invoke models


def test_1_a_message_type_invoke_answer_serialises_fixed() -> None:
    answer = AdaptiveCardInvokeResponse(
        status_code=200, type="application/vnd.microsoft.activity.message", value="Klart"
    )
    assert answer.model_dump(mode="json", by_alias=True) == {
        "statusCode": 200,
        "type": "application/vnd.microsoft.activity.message",
        "value": "Klart",
    }


def test_2_the_invoke_value_model_still_drops_trigger() -> None:
    """Still present: the card actions read `trigger` from the raw JSON instead (both
    paths: test_auth.py, the click tests)."""
    raw = card_action(trigger="automatic")["value"]
    value = AdaptiveCardInvokeValue.model_validate(raw)
    assert "trigger" not in value.model_dump()
    assert not hasattr(value, "trigger")


# ---------------------------------------------------------------- 3: unauthenticated


async def test_3_without_the_middleware_the_stock_adapter_accepts_anything(
    stock: Any,
    keys: Keys,
    serve: Any,
) -> None:
    post = await stock(RecordingAgent(), middleware=False)
    status, _ = await post(teams_activity(), bearer("garbage"))
    assert status == 202
    status, _ = await (await ours(serve))(teams_activity(), bearer("garbage"))
    assert status == 401


# ---------------------------------------------------------------- 4, 5, 6, 13: the token


@pytest.mark.parametrize(
    ("case", "stock_status", "our_status"),
    [
        ("no kid", 500, 401),
        ("keys unreachable", 401, 503),
        ("tenant not ours", 202, 403),
        ("serviceurl mismatch", 202, 401),
    ],
)
async def test_4_5_6_13_what_the_stock_pipeline_answers_and_what_we_answer(
    stock: Any, jwks: OpenIdServer, keys: Keys, serve: Any,
    case: str, stock_status: int, our_status: int,
) -> None:  # fmt: skip
    activity = teams_activity()
    token = sign(keys.signing)
    if case == "no kid":
        token = jwt.encode(
            {"iss": CHANNEL_ISSUER, "aud": APP_ID, "serviceurl": SERVICE_URL},
            keys.signing,
            algorithm="RS256",
        )
    elif case == "keys unreachable":
        jwks.fail = True
    elif case == "tenant not ours":
        activity = teams_activity(tenant=OTHER_TENANT)
    else:
        token = sign(keys.signing, serviceurl="https://evil.example.com/")
    stock_post = await stock(RecordingAgent())
    assert (await stock_post(activity, bearer(token)))[0] == stock_status
    our_post = await ours(serve)
    assert (await our_post(activity, bearer(token)))[0] == our_status


# ---------------------------------------------------------------- 8, 9: 500s


class StockCardAgent(ActivityHandler):
    """The SDK's own adaptive-card handling, for `on_adaptive_card_invoke`."""

    async def on_adaptive_card_invoke(self, turn_context: Any, invoke_value: Any) -> Any:
        return AdaptiveCardInvokeResponse(
            status_code=200, type="application/vnd.microsoft.card.adaptive", value={}
        )


@pytest.mark.parametrize(
    "value",
    [None, {"trigger": "manual"}, {"action": {"type": "Action.Submit", "data": {}}}],
    ids=["null", "no action", "Action.Submit"],
)
async def test_8_a_malformed_click_is_500_stock_and_a_swedish_answer_here(
    stock: Any,
    keys: Keys,
    serve: Any,
    value: Any,
) -> None:
    activity = card_action()
    activity["value"] = value
    post = await stock(StockCardAgent())
    assert (await post(activity, bearer(sign(keys.signing))))[0] == 500
    endpoint = endpoint_for(registration())  # the real card actions: no data, no database
    client = await serve(endpoint)
    response = await client.post("/api/messages", json=activity, headers=bearer(sign(keys.signing)))
    assert response.status == 200
    assert (await response.json())["type"] == "application/vnd.microsoft.error"


@pytest.mark.parametrize(
    "body",
    [[1, 2], {**teams_activity(), "id": ""}, {**teams_activity(), "from": "x"}],
    ids=["list", "empty id", "from string"],
)
async def test_9_a_body_the_model_refuses_is_500_stock_and_400_here(
    stock: Any,
    keys: Keys,
    serve: Any,
    body: Any,
) -> None:
    post = await stock(RecordingAgent())
    assert (await post(body, bearer(sign(keys.signing))))[0] == 500
    assert (await (await ours(serve))(body, bearer(sign(keys.signing))))[0] == 400


# ---------------------------------------------------------------- 10: per-turn tokens


async def test_10_a_click_needs_no_outbound_token(
    jwks: OpenIdServer, keys: Keys, serve: Any
) -> None:
    """The SDK fetches two tokens on every turn (a failure is a 500, even for a click);
    here a click has no turn, and an Entra ID outage does not reach it."""

    class EntraDown:
        calls = 0

        async def token(self, service_url: str) -> str:
            self.calls += 1
            raise ValueError("Failed to acquire token")

    endpoint = endpoint_for(registration())
    endpoint._connector._token_provider = down = EntraDown()
    endpoint._card_actions = Clicks()  # type: ignore[assignment]
    client = await serve(endpoint)
    response = await client.post(
        "/api/messages", json=card_action(), headers=bearer(sign(keys.signing))
    )
    assert response.status == 200
    assert down.calls == 0


# ---------------------------------------------------------------- 11: the error handler


async def test_11_the_stock_error_handler_posts_the_exception_into_the_chat(
    stock: Any,
    keys: Keys,
    fake_connector: FakeConnector,
    serve: Any,
) -> None:
    activity = teams_activity(serviceUrl=fake_connector.url)
    token = bearer(sign(keys.signing, serviceurl=fake_connector.url))
    post = await stock(RecordingAgent(fail=True))
    await post(activity, token)
    assert any(SECRET_TEXT in str(r.body) for r in fake_connector.received)
    fake_connector.received.clear()
    status, _ = await (await ours(serve, RecordingAgent(fail=True)))(activity, token)
    assert status == 500
    assert fake_connector.received == []


# ---------------------------------------------------------------- 14, 15: logs, connector


def test_14_no_agent_application_whose_routes_log_user_text() -> None:
    """`AgentApplication` logs the text of an unrouted message and exception messages;
    the agents runtime uses the core `ActivityHandler` only."""
    files = [
        *(ROOT / "bot" / "teams" / "agents").glob("*.py"),
        ROOT / "dialogs" / "agents_commands.py",
    ]
    names = {
        node.id if isinstance(node, ast.Name) else node.attr
        for path in files
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Name | ast.Attribute)
    } | {
        alias.name
        for path in files
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert "AgentApplication" not in names
    assert "ActivityHandler" in names


def test_15_the_sdk_connector_cuts_conversation_ids() -> None:
    """Stock: 150 characters at most. Here the turn's replies go through the product's
    connector, which sends the whole id, quoted (test_auth.py, the replies)."""
    long_id = "a:1" + "x" * 200
    operations = ConversationsOperations(None)  # type: ignore[arg-type]
    assert operations._normalize_conversation_id(long_id) == long_id[:150]


# ---------------------------------------------------------------- 16: issuers


async def test_16_another_issuer_is_refused_before_any_key_is_fetched(
    stock: Any,
    jwks: OpenIdServer,
    keys: Keys,
    serve: Any,
) -> None:
    """Stock: `VALIDATE_ISSUER` is off and any other issuer sends the validator to
    login.microsoftonline.com for keys (here: offline, so the stock answer is a 401 after
    a failed fetch). Here the issuer is checked first."""
    token = bearer(sign(keys.signing, iss="https://evil.example.com"))
    status, _ = await (await ours(serve))(teams_activity(), token)
    assert status == 401
    assert jwks.hits == []
