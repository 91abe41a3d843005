"""ConnectorClient against a fake Bot Connector on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import jwt
import pytest

from bot.teams.app_credentials import AppCredentialsTokenProvider
from bot.teams.connector import (
    ConnectorClient,
    SendResult,
    parse_retry_after,
)
from tests.teams.conftest import FakeConnector

CONVERSATION = "19:abcdef@thread.tacv2;messageid=1700000000001"
MESSAGE = {"type": "message", "text": "Ny uppgift: skicka kallelse (åäö)"}


class StaticToken:
    def __init__(self, token: str | None) -> None:
        self.value = token
        self.service_urls: list[str] = []

    async def token(self, service_url: str) -> str | None:
        self.service_urls.append(service_url)
        return self.value


class FailingToken:
    async def token(self, service_url: str) -> str | None:
        raise PermissionError("Failed to get access token")


@pytest.fixture
async def client() -> AsyncIterator[ConnectorClient]:
    connector_client = ConnectorClient(token_provider=StaticToken("bot-token"))
    try:
        yield connector_client
    finally:
        await connector_client.close()


async def test_send_returns_the_activity_id(
    client: ConnectorClient, fake_connector: FakeConnector
) -> None:
    result = await client.send_activity(fake_connector.url, CONVERSATION, MESSAGE)
    assert result == SendResult(ok=True, status=201, activity_id="activity-1")
    [request] = fake_connector.received
    assert request.method == "POST"
    assert request.path == f"/v3/conversations/{CONVERSATION}/activities"
    assert request.authorization == "Bearer bot-token"
    assert request.body == MESSAGE


async def test_ids_are_quoted_as_one_path_segment_like_msrest(
    client: ConnectorClient, fake_connector: FakeConnector
) -> None:
    await client.send_activity(fake_connector.url, CONVERSATION, MESSAGE)
    await client.send_activity(fake_connector.url, "a/b?c#d", MESSAGE)
    await client.update_activity(fake_connector.url, "a:1", "x/y", MESSAGE)
    assert [r.raw_path for r in fake_connector.received] == [
        "/v3/conversations/19%3Aabcdef%40thread.tacv2%3Bmessageid%3D1700000000001/activities",
        "/v3/conversations/a%2Fb%3Fc%23d/activities",
        "/v3/conversations/a%3A1/activities/x%2Fy",
    ]


async def test_update_puts_to_the_activity(
    client: ConnectorClient, fake_connector: FakeConnector
) -> None:
    fake_connector.answers.append((200, {}, {"id": "activity-9"}))
    result = await client.update_activity(fake_connector.url, CONVERSATION, "activity-9", MESSAGE)
    assert result == SendResult(ok=True, status=200, activity_id="activity-9")
    [request] = fake_connector.received
    assert request.method == "PUT"
    assert request.path == f"/v3/conversations/{CONVERSATION}/activities/activity-9"


async def test_update_with_an_empty_answer_is_ok(
    client: ConnectorClient, fake_connector: FakeConnector
) -> None:
    fake_connector.answers.append((200, {}, {}))
    result = await client.update_activity(fake_connector.url, CONVERSATION, "activity-9", MESSAGE)
    assert result == SendResult(ok=True, status=200, activity_id=None)


async def test_429_with_retry_after_seconds(
    client: ConnectorClient, fake_connector: FakeConnector
) -> None:
    fake_connector.answers.append(
        (429, {"Retry-After": "2"}, {"error": {"code": "Throttled", "message": "Too many"}})
    )
    result = await client.send_activity(fake_connector.url, CONVERSATION, MESSAGE)
    assert result == SendResult(
        ok=False, status=429, retry_after=2.0, error_code="Throttled", message="Too many"
    )


async def test_429_with_retry_after_http_date(
    client: ConnectorClient, fake_connector: FakeConnector
) -> None:
    fake_connector.answers.append((429, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, {}))
    result = await client.send_activity(fake_connector.url, CONVERSATION, MESSAGE)
    assert (result.ok, result.status, result.retry_after) == (False, 429, 0.0)  # date passed


def test_parse_retry_after() -> None:
    now = datetime(2026, 1, 15, 8, 0, 0, tzinfo=UTC)
    assert parse_retry_after("2", now=now) == 2.0
    assert parse_retry_after(" 1.5 ", now=now) == 1.5
    assert parse_retry_after("Thu, 15 Jan 2026 08:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Thu, 15 Jan 2026 07:59:00 GMT", now=now) == 0.0
    assert parse_retry_after("-3", now=now) == 0.0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after("", now=now) is None
    assert parse_retry_after(None, now=now) is None


async def test_503(client: ConnectorClient, fake_connector: FakeConnector) -> None:
    fake_connector.answers.append((503, {"Retry-After": "10"}, {"error": {"code": "ServiceError"}}))
    result = await client.send_activity(fake_connector.url, CONVERSATION, MESSAGE)
    assert result == SendResult(ok=False, status=503, retry_after=10.0, error_code="ServiceError")


async def test_500_with_a_body_that_is_not_json(
    client: ConnectorClient, fake_connector: FakeConnector
) -> None:
    fake_connector.answers.append((500, {}, "oops"))
    result = await client.send_activity(fake_connector.url, CONVERSATION, MESSAGE)
    assert result == SendResult(ok=False, status=500)


@pytest.mark.parametrize("code", ["BotNotInConversationRoster", "ConversationBlockedByUser"])
async def test_403_carries_the_error_code(
    client: ConnectorClient, fake_connector: FakeConnector, code: str
) -> None:
    fake_connector.answers.append(
        (403, {}, {"error": {"code": code, "message": "The bot is not part of the roster"}})
    )
    result = await client.send_activity(fake_connector.url, CONVERSATION, MESSAGE)
    assert result == SendResult(
        ok=False, status=403, error_code=code, message="The bot is not part of the roster"
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_server_down_is_status_0(client: ConnectorClient) -> None:
    result = await client.send_activity(
        f"http://127.0.0.1:{_closed_port()}/", CONVERSATION, MESSAGE
    )
    assert (result.ok, result.status, result.activity_id) == (False, 0, None)
    assert result.message is not None and result.message.startswith("network:")


async def test_timeout_is_status_0(fake_connector: FakeConnector) -> None:
    fake_connector.delay = 1.0
    slow = ConnectorClient(token_provider=None, timeout=0.2)
    try:
        started = time.perf_counter()
        result = await slow.send_activity(fake_connector.url, CONVERSATION, MESSAGE)
        assert time.perf_counter() - started < 0.9
    finally:
        await slow.close()
    assert result == SendResult(ok=False, status=0, message="timeout")


async def test_failing_token_provider_is_status_0(fake_connector: FakeConnector) -> None:
    failing = ConnectorClient(token_provider=FailingToken())
    try:
        result = await failing.send_activity(fake_connector.url, CONVERSATION, MESSAGE)
    finally:
        await failing.close()
    assert result == SendResult(ok=False, status=0, message="token: PermissionError")
    assert fake_connector.received == []


async def test_no_token_provider_sends_no_authorization(fake_connector: FakeConnector) -> None:
    local = ConnectorClient(token_provider=None)
    try:
        assert (await local.send_activity(fake_connector.url, CONVERSATION, MESSAGE)).ok
    finally:
        await local.close()
    assert fake_connector.received[0].authorization is None


async def test_token_provider_gets_the_service_url(fake_connector: FakeConnector) -> None:
    provider = StaticToken("t")
    connector_client = ConnectorClient(token_provider=provider)
    try:
        await connector_client.send_activity(fake_connector.url, CONVERSATION, MESSAGE)
    finally:
        await connector_client.close()
    assert provider.service_urls == [fake_connector.url]


async def test_keep_alive_uses_one_connection(
    client: ConnectorClient, fake_connector: FakeConnector
) -> None:
    for _ in range(3):
        assert (await client.send_activity(fake_connector.url, CONVERSATION, MESSAGE)).ok
    await client.update_activity(fake_connector.url, CONVERSATION, "activity-1", MESSAGE)
    assert len(fake_connector.received) == 4
    assert fake_connector.connections == 1


async def test_given_session_is_used_and_left_open(fake_connector: FakeConnector) -> None:
    async with aiohttp.ClientSession() as session:
        connector_client = ConnectorClient(token_provider=None, session=session)
        assert (await connector_client.send_activity(fake_connector.url, CONVERSATION, MESSAGE)).ok
        await connector_client.close()
        assert not session.closed


async def test_close_then_send_opens_a_new_session(fake_connector: FakeConnector) -> None:
    connector_client = ConnectorClient(token_provider=None)
    assert (await connector_client.send_activity(fake_connector.url, CONVERSATION, MESSAGE)).ok
    await connector_client.close()
    assert (await connector_client.send_activity(fake_connector.url, CONVERSATION, MESSAGE)).ok
    await connector_client.close()
    assert fake_connector.connections == 2


# ---------------------------------------------------------------- AppCredentialsTokenProvider


class FakeCredentials:
    """Stands in for MicrosoftAppCredentials (msal would call Entra ID)."""

    def __init__(self, lifetime: float) -> None:
        self.lifetime = lifetime
        self.calls = 0
        self.threads: set[int] = set()

    def get_access_token(self, force_refresh: bool = False) -> str:
        self.calls += 1
        self.threads.add(threading.get_ident())
        time.sleep(0.05)  # msal blocks
        exp = int(time.time() + self.lifetime)
        return jwt.encode({"exp": exp, "n": self.calls}, "k" * 32, algorithm="HS256")


async def test_token_is_fetched_in_a_thread_and_cached() -> None:
    credentials = FakeCredentials(lifetime=3600)
    provider = AppCredentialsTokenProvider(
        app_id="app", app_password="pw", tenant_id="tenant", credentials=credentials
    )
    tokens = await asyncio.gather(*(provider.token("https://smba/") for _ in range(5)))
    assert len(set(tokens)) == 1
    assert await provider.token("https://smba/") == tokens[0]
    assert credentials.calls == 1
    assert threading.get_ident() not in credentials.threads


async def test_token_is_refreshed_shortly_before_it_expires() -> None:
    credentials = FakeCredentials(lifetime=200)  # inside the 300 s margin
    provider = AppCredentialsTokenProvider(
        app_id="app", app_password="pw", tenant_id="tenant", credentials=credentials
    )
    first = await provider.token("https://smba/")
    second = await provider.token("https://smba/")
    assert first != second
    assert credentials.calls == 2


async def test_token_that_is_not_a_jwt_is_kept_for_the_fallback_lifetime() -> None:
    class Opaque:
        calls = 0

        def get_access_token(self, force_refresh: bool = False) -> str:
            self.calls += 1
            return "opaque-token"

    opaque = Opaque()
    provider = AppCredentialsTokenProvider(
        app_id="app", app_password="pw", tenant_id="tenant", credentials=opaque
    )
    assert await provider.token("https://smba/") == "opaque-token"
    assert await provider.token("https://smba/") == "opaque-token"
    assert opaque.calls == 1


def test_provider_builds_single_tenant_app_credentials() -> None:
    provider = AppCredentialsTokenProvider(app_id="app", app_password="pw", tenant_id="tenant-1")
    credentials = provider._credentials
    assert credentials.microsoft_app_id == "app"  # type: ignore[attr-defined]
    assert credentials.oauth_endpoint == "https://login.microsoftonline.com/tenant-1"  # type: ignore[attr-defined]
    assert credentials.oauth_scope == "https://api.botframework.com"  # type: ignore[attr-defined]
