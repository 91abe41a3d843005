"""Inbound authentication, the tenant gate and the HTTP answers of the Agents SDK runtime
(`TEAMS_SDK=agents`), offline (see conftest.py)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, cast

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from microsoft_agents.hosting.core import JwtTokenValidator
from sqlalchemy.ext.asyncio import async_sessionmaker

from bot.metrics import Metrics
from bot.teams.agents.auth import connection_settings
from bot.teams.agents.endpoint import create_agents_endpoint
from bot.teams.registration import LocalModeRequired
from tests.teams.agents.conftest import Clicks, RecordingAgent, endpoint_for, registration
from tests.teams.conftest import (
    APP_ID,
    CARD,
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

ENTRA_ISSUER = f"https://login.microsoftonline.com/{TENANT}/v2.0"


# ---------------------------------------------------------------- authentication


async def test_valid_token_runs_the_turn_and_answers_201(
    jwks: OpenIdServer, keys: Keys, serve: Any
) -> None:
    agent = RecordingAgent()
    client = await serve(endpoint_for(registration(), agent))
    response = await client.post(
        "/api/messages", json=teams_activity(), headers=bearer(sign(keys.signing))
    )
    assert response.status == 201
    assert agent.turns == [("message", SECRET_TEXT)]


def forged(keys: Keys) -> dict[str, dict[str, str]]:
    now = 1_700_000_000
    return {
        "bad signature": bearer(sign(keys.other)),
        "unknown kid": bearer(sign(keys.signing, kid="unknown-key")),
        "no kid": bearer(jwt.encode({"iss": CHANNEL_ISSUER, "aud": APP_ID,
                                      "serviceurl": SERVICE_URL}, keys.signing,
                                     algorithm="RS256")),
        "expired": bearer(sign(keys.signing, exp=now, nbf=now - 10, iat=now - 10)),
        "garbage": bearer("garbage.not.a-jwt"),
        "not even dotted": bearer("garbage"),
        "missing header": {},
        "empty bearer": {"Authorization": "Bearer "},
        "basic scheme": {"Authorization": "Basic dXNlcjpwYXNz"},
        "wrong audience": bearer(sign(keys.signing, aud="another-bot")),
        "audience list": bearer(sign(keys.signing, aud=[APP_ID, "x"])),
        "wrong issuer": bearer(sign(keys.signing, iss="https://evil.example.com")),
        "HS256": bearer(jwt.encode({"iss": CHANNEL_ISSUER, "aud": APP_ID}, "k" * 32,
                                   algorithm="HS256", headers={"kid": "local-key-1"})),
        "alg none": bearer(jwt.encode({"iss": CHANNEL_ISSUER, "aud": APP_ID}, None,
                                      algorithm="none", headers={"kid": "local-key-1"})),
        "service url mismatch": bearer(sign(keys.signing, serviceurl="https://evil.example.com/")),
        "no service url claim": bearer(sign(keys.signing, serviceurl=None)),
    }  # fmt: skip


@pytest.mark.parametrize(
    "case",
    [
        "bad signature", "unknown kid", "no kid", "expired", "garbage", "not even dotted",
        "missing header", "empty bearer", "basic scheme", "wrong audience", "audience list",
        "wrong issuer", "HS256", "alg none", "service url mismatch", "no service url claim",
    ],
)  # fmt: skip
async def test_every_forged_token_is_401_and_nothing_runs(
    jwks: OpenIdServer, keys: Keys, serve: Any, case: str
) -> None:
    agent, clicks = RecordingAgent(), Clicks()
    endpoint = endpoint_for(registration(), agent)
    endpoint._card_actions = clicks  # type: ignore[assignment]
    client = await serve(endpoint)
    headers = forged(keys)[case]
    for activity in (teams_activity(), card_action()):
        response = await client.post("/api/messages", json=activity, headers=headers)
        assert response.status == 401, activity["type"]
        assert await response.json() == {"error": "unauthorized"}
    assert agent.turns == []
    assert clicks.seen == []


async def test_a_forged_issuer_fetches_no_keys(jwks: OpenIdServer, keys: Keys, serve: Any) -> None:
    """The unverified issuer is checked before any key set is fetched (the SDK would go to
    login.microsoftonline.com for any other issuer)."""
    client = await serve(endpoint_for(registration()))
    response = await client.post(
        "/api/messages",
        json=teams_activity(),
        headers=bearer(sign(keys.signing, iss="https://evil.example.com")),
    )
    assert response.status == 401
    assert jwks.hits == []


async def test_keys_unreachable_is_503_not_401(jwks: OpenIdServer, keys: Keys, serve: Any) -> None:
    jwks.fail = True
    agent = RecordingAgent()
    client = await serve(endpoint_for(registration(), agent))
    for activity in (teams_activity(), card_action()):
        response = await client.post(
            "/api/messages", json=activity, headers=bearer(sign(keys.signing))
        )
        assert response.status == 503
        assert await response.json() == {"error": "auth_metadata_unavailable"}
    assert agent.turns == []


async def test_known_keys_stay_in_use_through_an_outage(
    jwks: OpenIdServer, keys: Keys, serve: Any
) -> None:
    """Once the key set's cache has expired, a failed refresh keeps the keys fetched last
    (PyJWKClient alone would have none, and refuse every request), and the next attempt
    waits another lifespan."""
    endpoint = endpoint_for(registration())
    await endpoint.prefetch()
    client = await serve(endpoint)
    [entry] = JwtTokenValidator._jwk_client_manager._cache.values()
    cache = entry.jwk_client.jwk_set_cache
    assert cache is not None
    jwks.fail = True
    cache.lifespan = 0  # expired
    for _ in range(2):
        response = await client.post(
            "/api/messages", json=teams_activity(), headers=bearer(sign(keys.signing))
        )
        assert response.status == 201
        cache.lifespan = 300  # the known keys were put back: no attempt before then
    assert jwks.hits == ["/keys", "/keys"]


async def test_keys_too_slow_is_503(jwks: OpenIdServer, keys: Keys, serve: Any) -> None:
    jwks.delay = 1.0
    endpoint = create_agents_endpoint(
        registration(), factory=async_sessionmaker(), on_change=lambda: None,
        clock=lambda: None, metrics=Metrics(),  # type: ignore[arg-type,return-value]
    )  # fmt: skip
    endpoint._auth._timeout = 0.2  # type: ignore[union-attr]
    client = await serve(endpoint)
    response = await client.post(
        "/api/messages", json=teams_activity(), headers=bearer(sign(keys.signing))
    )
    assert response.status == 503


async def test_keys_are_fetched_once_and_prefetched(
    jwks: OpenIdServer, keys: Keys, serve: Any
) -> None:
    endpoint = endpoint_for(registration())
    await endpoint.prefetch()
    assert jwks.hits == ["/keys"]
    client = await serve(endpoint)
    for _ in range(3):
        response = await client.post(
            "/api/messages", json=teams_activity(), headers=bearer(sign(keys.signing))
        )
        assert response.status == 201
    assert jwks.hits == ["/keys"]


async def test_an_agent_to_agent_token_is_401(
    keys: Keys, serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An Entra token of another app of the tenant, for this bot (a skill call): the SDK
    accepts it as an agent claim; botbuilder refused skill calls, and so does this."""
    from jwt import PyJWK

    key = PyJWK(keys.jwk(keys.signing, "entra-key"))

    async def signing_key(uri: str, header: dict[str, Any]) -> PyJWK:
        return key

    monkeypatch.setattr(JwtTokenValidator._jwk_client_manager, "get_signing_key", signing_key)
    agent = RecordingAgent()
    client = await serve(endpoint_for(registration(), agent))
    token = sign(keys.signing, kid="entra-key", iss=ENTRA_ISSUER, ver="2.0", tid=TENANT,
                 azp="33333333-0000-0000-0000-000000000003")  # fmt: skip
    response = await client.post("/api/messages", json=teams_activity(), headers=bearer(token))
    assert response.status == 401
    # the same issuer, the Bot Connector's own call (no other app): accepted
    token = sign(keys.signing, kid="entra-key", iss=ENTRA_ISSUER, ver="2.0", tid=TENANT,
                 azp=APP_ID)  # fmt: skip
    response = await client.post("/api/messages", json=teams_activity(), headers=bearer(token))
    assert response.status == 201
    assert len(agent.turns) == 1


async def test_authentication_failures_log_no_token_or_text(
    jwks: OpenIdServer, keys: Keys, serve: Any, caplog: pytest.LogCaptureFixture
) -> None:
    token = sign(keys.other)
    client = await serve(endpoint_for(registration()))
    with caplog.at_level(logging.DEBUG):
        response = await client.post("/api/messages", json=teams_activity(), headers=bearer(token))
    assert response.status == 401
    assert "authentication failed (token not valid (InvalidSignatureError))" in caplog.text
    assert token not in caplog.text
    assert SECRET_TEXT not in caplog.text


# ---------------------------------------------------------------- the tenant gate


@pytest.mark.parametrize(
    "activity",
    [
        teams_activity(tenant=OTHER_TENANT),
        card_action(channelData={"tenant": {"id": OTHER_TENANT}}),
        teams_activity(channel_id="webchat", channelData={}),  # no Teams tenant at all
    ],
    ids=["message", "click", "webchat"],
)
async def test_a_tenant_not_allowed_is_403_and_nothing_runs(
    jwks: OpenIdServer, keys: Keys, serve: Any, activity: dict[str, Any]
) -> None:
    agent, clicks = RecordingAgent(), Clicks()
    endpoint = endpoint_for(registration(), agent)
    endpoint._card_actions = clicks  # type: ignore[assignment]
    client = await serve(endpoint)
    response = await client.post("/api/messages", json=activity, headers=bearer(sign(keys.signing)))
    assert response.status == 403
    assert await response.json() == {"error": "tenant_not_allowed"}
    assert agent.turns == [] and clicks.seen == []


# ---------------------------------------------------------------- card clicks


async def test_a_click_is_answered_from_the_raw_json_without_a_turn(
    jwks: OpenIdServer, keys: Keys, serve: Any
) -> None:
    agent, clicks = RecordingAgent(), Clicks()
    endpoint = endpoint_for(registration(), agent)
    endpoint._card_actions = clicks  # type: ignore[assignment]
    client = await serve(endpoint)
    activity = card_action(trigger="automatic")
    response = await client.post("/api/messages", json=activity, headers=bearer(sign(keys.signing)))
    assert response.status == 200
    assert await response.json() == {
        "statusCode": 200, "type": "application/vnd.microsoft.card.adaptive", "value": CARD,
    }  # fmt: skip
    assert "åäö" in await response.text()  # UTF-8, not \\u escapes
    assert agent.turns == []  # no SDK turn
    [(value, aad, activity_id)] = clicks.seen
    assert value["trigger"] == "automatic"  # the raw value: the SDK's model drops it
    assert aad == activity["from"]["aadObjectId"]
    assert activity_id == activity["id"]


async def test_a_click_the_fast_path_does_not_take_goes_through_the_turn(
    jwks: OpenIdServer, keys: Keys, serve: Any
) -> None:
    """A click whose routing fields are not all plain strings (here `recipient.role` is
    null) is validated by the SDK's model and answered in its turn by the handler, with
    the same card actions and the raw `value`."""
    from bot.teams.agents.handler import AgentsBot

    clicks = Clicks()
    endpoint = endpoint_for(registration())
    endpoint.bot = AgentsBot(
        async_sessionmaker(), card_actions=cast(Any, clicks), on_change=lambda: None,
        clock=cast(Any, lambda: None),
    )  # fmt: skip
    client = await serve(endpoint)
    activity = card_action()
    activity["channelData"] = {"tenant": {"id": TENANT}}
    activity["recipient"]["role"] = None  # not a string: no fast path
    response = await client.post("/api/messages", json=activity, headers=bearer(sign(keys.signing)))
    assert response.status == 200
    assert (await response.json())["value"] == CARD
    assert clicks.seen[0][0]["trigger"] == "manual"


async def test_a_failed_invoke_is_a_swedish_error_and_nothing_reaches_the_chat(
    jwks: OpenIdServer, keys: Keys, serve: Any, fake_connector: FakeConnector,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    client = await serve(endpoint_for(registration(), RecordingAgent(fail=True)))
    activity = teams_activity("invoke", name="task/fetch", value={"text": SECRET_TEXT},
                              serviceUrl=fake_connector.url)  # fmt: skip
    token = sign(keys.signing, serviceurl=fake_connector.url)
    with caplog.at_level(logging.DEBUG):
        response = await client.post("/api/messages", json=activity, headers=bearer(token))
    assert response.status == 200
    body = await response.json()
    assert body["type"] == "application/vnd.microsoft.error"
    assert body["value"]["message"] == "Något gick fel. Försök igen om en stund."
    assert fake_connector.received == []  # the SDK's default would post the exception
    assert "Turn failed" in caplog.text and "ValueError" in caplog.text
    assert SECRET_TEXT not in caplog.text


async def test_a_failed_message_is_500_logged_without_text_and_nothing_reaches_the_chat(
    jwks: OpenIdServer, keys: Keys, serve: Any, fake_connector: FakeConnector,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    client = await serve(endpoint_for(registration(), RecordingAgent(fail=True)))
    activity = teams_activity(serviceUrl=fake_connector.url)
    token = sign(keys.signing, serviceurl=fake_connector.url)
    with caplog.at_level(logging.DEBUG):
        response = await client.post("/api/messages", json=activity, headers=bearer(token))
    assert response.status == 500
    assert await response.json() == {"error": "internal_error"}
    assert fake_connector.received == []
    assert SECRET_TEXT not in caplog.text
    assert "Exception caught" not in caplog.text


async def test_other_invokes_are_answered_as_the_sdk_does(
    jwks: OpenIdServer, keys: Keys, serve: Any
) -> None:
    client = await serve(endpoint_for(registration()))
    activity = teams_activity("invoke", name="task/fetch", value={})
    response = await client.post("/api/messages", json=activity, headers=bearer(sign(keys.signing)))
    assert response.status == 501


async def test_replies_of_a_turn_go_through_the_product_connector_with_the_token(
    jwks: OpenIdServer, keys: Keys, serve: Any, fake_connector: FakeConnector
) -> None:
    """One keep-alive session, the full conversation id (the SDK's client cuts it to 150
    characters), quoted, and the cached outbound token."""

    class Token:
        calls = 0

        async def token(self, service_url: str) -> str:
            self.calls += 1
            return "outbound-token"

    endpoint = endpoint_for(registration(), RecordingAgent(reply=True))
    endpoint._connector._token_provider = Token()
    client = await serve(endpoint)
    conversation = "a:1" + "x" * 200 + "@thread;messageid=1"
    activity = teams_activity(serviceUrl=fake_connector.url)
    activity["conversation"]["id"] = conversation
    token = sign(keys.signing, serviceurl=fake_connector.url)
    for _ in range(2):
        response = await client.post("/api/messages", json=activity, headers=bearer(token))
        assert response.status == 201
    assert len(fake_connector.received) == 2
    sent = fake_connector.received[0]
    assert sent.path == f"/v3/conversations/{conversation}/activities/{activity['id']}"
    assert "%3B" in sent.raw_path and "%40" in sent.raw_path
    assert sent.authorization == "Bearer outbound-token"
    assert sent.body["text"] == "Tack"
    assert sent.body["conversation"]["id"] == conversation
    assert fake_connector.connections == 1


# ---------------------------------------------------------------- bodies


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"[1, 2]", 400),
        (json.dumps({"type": "message"}).encode(), 400),  # no conversation
        (json.dumps(teams_activity(id="")).encode(), 400),  # pydantic ValidationError
        (json.dumps(teams_activity(**{"from": "x"})).encode(), 400),
        (json.dumps({**teams_activity(), "type": ""}).encode(), 400),
        (b"{" * 100_000, 400),
        (b"x" * (2 * 1024 * 1024), 413),
    ],
    ids=["not json", "list", "no conversation", "empty id", "from string", "empty type",
         "nesting", "too large"],
)  # fmt: skip
async def test_a_body_that_is_not_an_activity_is_4xx_never_500(
    jwks: OpenIdServer, keys: Keys, serve: Any, body: bytes, status: int
) -> None:
    client = await serve(endpoint_for(registration()))
    response = await client.post(
        "/api/messages", data=body,
        headers={**bearer(sign(keys.signing)), "Content-Type": "application/json"},
    )  # fmt: skip
    assert response.status == status


async def test_only_post(serve: Any) -> None:
    endpoint = endpoint_for(registration(app_id=None, local=True))
    app = web.Application()
    app.router.add_route("*", "/api/messages", endpoint.process)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        response = await client.get("/api/messages")
        assert response.status == 405
    await endpoint.close()


# ---------------------------------------------------------------- no app id


def test_no_app_id_outside_local_mode_refuses_to_start() -> None:
    with pytest.raises(LocalModeRequired):
        endpoint_for(registration(app_id=None, app_password=None))


@pytest.mark.parametrize(
    "over",
    [{"app_password": None}, {"tenant_id": None},
     {"app_type": "UserAssignedMSI", "tenant_id": None}],
)  # fmt: skip
def test_an_incomplete_registration_refuses_to_start(over: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="needs"):
        endpoint_for(registration(**over))


async def test_local_mode_accepts_requests_without_a_token(
    serve: Any, caplog: pytest.LogCaptureFixture
) -> None:
    agent = RecordingAgent()
    with caplog.at_level(logging.WARNING):
        endpoint = endpoint_for(registration(app_id=None, app_password=None, local=True), agent)
    assert "LOCAL MODE" in caplog.text
    assert endpoint.token_provider() is None
    client = await serve(endpoint)
    response = await client.post("/api/messages", json=teams_activity())
    assert response.status == 201
    assert len(agent.turns) == 1


# ---------------------------------------------------------------- connection settings


@pytest.mark.parametrize(
    ("over", "expected"),
    [
        ({}, {"AUTHTYPE": "ClientSecret", "CLIENTID": APP_ID,
              "CLIENTSECRET": "not-a-real-secret", "TENANTID": TENANT}),
        ({"app_type": "MultiTenant", "tenant_id": None},
         {"AUTHTYPE": "ClientSecret", "CLIENTID": APP_ID,
          "CLIENTSECRET": "not-a-real-secret", "TENANTID": "botframework.com"}),
        ({"app_type": "UserAssignedMSI", "app_password": None},
         {"AUTHTYPE": "UserManagedIdentity", "CLIENTID": APP_ID, "TENANTID": TENANT}),
        ({"app_id": None, "local": True}, {}),
    ],
    ids=["SingleTenant", "MultiTenant", "UserAssignedMSI", "local"],
)  # fmt: skip
def test_the_registration_maps_to_the_sdk_connection_settings(
    over: dict[str, Any], expected: dict[str, str]
) -> None:
    assert connection_settings(registration(**over)) == expected


def test_the_sdk_variables_are_read_as_the_registration(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.config import Settings

    prefix = "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__"
    for name in ("MicrosoftAppId", "MicrosoftAppPassword", "MicrosoftAppTenantId",
                 "MicrosoftAppType"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(f"{prefix}CLIENTID", APP_ID)
    monkeypatch.setenv(f"{prefix}CLIENTSECRET", "sdk-secret")
    monkeypatch.setenv(f"{prefix}TENANTID", TENANT)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (settings.app_id, settings.app_password, settings.app_tenant_id) == (
        APP_ID, "sdk-secret", TENANT,
    )  # fmt: skip
    assert settings.app_type == "SingleTenant"
    monkeypatch.setenv(f"{prefix}AUTHTYPE", "UserManagedIdentity")
    assert Settings(_env_file=None).app_type == "UserAssignedMSI"  # type: ignore[call-arg]
    monkeypatch.setenv("MicrosoftAppId", "the-product-name-wins")
    assert Settings(_env_file=None).app_id == "the-product-name-wins"  # type: ignore[call-arg]


async def test_the_outbound_token_is_msal_s_off_the_event_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """msal's client is built (a blocking tenant discovery) and asked in a worker thread;
    the event loop keeps running meanwhile, and the token is cached."""
    import threading
    import time

    from microsoft_agents.authentication.msal import MsalAuth
    from msal import ConfidentialClientApplication

    loop_thread = threading.get_ident()
    threads: list[int] = []
    expires = int(time.time()) + 3600

    class SlowClient(ConfidentialClientApplication):  # type: ignore[misc]
        def acquire_token_for_client(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
            return {"access_token": jwt.encode({"exp": expires}, "k" * 32), "expires_in": 3600}

    def build(self: MsalAuth, tenant_id: str | None = None) -> SlowClient:
        threads.append(threading.get_ident())
        time.sleep(0.3)  # msal's synchronous tenant discovery
        return object.__new__(SlowClient)

    monkeypatch.setattr(MsalAuth, "_create_client_application", build)
    provider = endpoint_for(registration()).token_provider()
    assert provider is not None
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    task = asyncio.create_task(ticker())
    token = await provider.token(SERVICE_URL)
    task.cancel()
    assert token and await provider.token(SERVICE_URL) == token
    assert threads and loop_thread not in threads
    assert ticks >= 10  # the loop was not stalled for the 0.3 s
