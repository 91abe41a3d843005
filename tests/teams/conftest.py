"""Offline Bot Framework authentication: a local OpenID configuration and key set served
from their own thread, RS256 tokens signed with a local key, Teams-shaped activities,
and a tiny aiohttp app around the adapter."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from botbuilder.core import ActivityHandler, TurnContext
from botframework.connector.auth import ChannelValidation
from botframework.connector.auth.jwt_token_extractor import JwtTokenExtractor
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from bot.teams.adapter import BotAuthConfig, create_adapter

APP_ID = "00000000-0000-0000-0000-00000000b07a"
TENANT = "11111111-2222-3333-4444-555555555555"
OTHER_TENANT = "99999999-8888-7777-6666-555555555555"
SERVICE_URL = "https://smba.trafficmanager.net/emea/"
# AuthenticationConstants.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER
CHANNEL_ISSUER = "https://api.botframework.com"
KID = "local-key-1"

# Text and a user name that must never reach the log.
SECRET_TEXT = "Patient Anna Andersson 19121212-1212"
USER_NAME = "Doktor Bertil Berglund"


# ---------------------------------------------------------------- keys and tokens


@dataclass
class Keys:
    signing: rsa.RSAPrivateKey
    other: rsa.RSAPrivateKey

    def jwk(self, key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
        jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
        jwk.update({"kid": kid, "use": "sig", "endorsements": ["msteams"]})
        return jwk


@pytest.fixture(scope="session")
def keys() -> Keys:
    return Keys(
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )


def sign(
    key: rsa.RSAPrivateKey, *, kid: str = KID, claims: dict[str, Any] | None = None, **over: Any
) -> str:
    now = int(time.time())
    payload: dict[str, Any] = {
        "iss": CHANNEL_ISSUER,
        "aud": APP_ID,
        "serviceurl": SERVICE_URL,
        "nbf": now - 10,
        "iat": now - 10,
        "exp": now + 3600,
    }
    payload.update(claims or {})
    payload.update(over)
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid})


# ---------------------------------------------------------------- OpenID server (own thread)


@dataclass
class OpenIdServer:
    """OpenID configuration + JWKS on 127.0.0.1, in a thread of its own so that a
    blocking fetch from the event loop cannot deadlock it."""

    jwks: list[dict[str, Any]]
    delay: float = 0.0
    fail: bool = False
    hits: list[str] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/.well-known/openid-configuration"

    def start(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.hits.append(self.path)
                if owner.delay:
                    time.sleep(owner.delay)
                if owner.fail:
                    self.send_response(500)
                    self.end_headers()
                    return
                port = self.server.server_address[1]
                if self.path == "/.well-known/openid-configuration":
                    body = {
                        "issuer": CHANNEL_ISSUER,
                        "jwks_uri": f"http://127.0.0.1:{port}/keys",
                        "id_token_signing_alg_values_supported": ["RS256"],
                    }
                elif self.path == "/keys":
                    body = {"keys": owner.jwks}
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


@pytest.fixture
def openid(keys: Keys) -> Iterator[OpenIdServer]:
    """Point the SDK's channel validation at a local OpenID server; restore afterwards.

    Only `ChannelValidation.open_id_metadata_endpoint` needs redirecting: the Bot
    Framework issuer (`AuthenticationConstants.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER`,
    checked in channel_validation.py:24 and :126) is a claim value, which our tokens
    simply carry.
    """
    server = OpenIdServer(jwks=[keys.jwk(keys.signing, KID)])
    server.start()
    previous = ChannelValidation.open_id_metadata_endpoint
    ChannelValidation.open_id_metadata_endpoint = server.url
    try:
        yield server
    finally:
        ChannelValidation.open_id_metadata_endpoint = previous
        JwtTokenExtractor.metadataCache.pop(server.url, None)
        server.stop()


# ---------------------------------------------------------------- activities


def teams_activity(
    type_: str = "message",
    *,
    tenant: str = TENANT,
    service_url: str = SERVICE_URL,
    channel_id: str = "msteams",
    **extra: Any,
) -> dict[str, Any]:
    """An activity shaped like the ones Teams posts to /api/messages."""
    activity: dict[str, Any] = {
        "type": type_,
        "id": "1700000000001",
        "timestamp": "2026-01-15T08:30:00.123Z",
        "localTimestamp": "2026-01-15T09:30:00.123+01:00",
        "serviceUrl": service_url,
        "channelId": channel_id,
        "from": {
            "id": "29:1abcUserTeamsId",
            "name": USER_NAME,
            "aadObjectId": "aaaaaaaa-0000-0000-0000-000000000001",
        },
        "conversation": {
            "conversationType": "personal",
            "tenantId": tenant,
            "id": "a:1personalConversationId",
        },
        "recipient": {"id": f"28:{APP_ID}", "name": "Frakturkedjan"},
        "entities": [{"locale": "sv-SE", "country": "SE", "platform": "Web", "type": "clientInfo"}],
        "channelData": {"tenant": {"id": tenant}},
        "locale": "sv-SE",
    }
    if type_ == "message":
        activity["text"] = SECRET_TEXT
        activity["textFormat"] = "plain"
    activity.update(extra)
    return activity


def card_action(trigger: str = "manual", verb: str = "case.decide", **extra: Any) -> dict[str, Any]:
    return teams_activity(
        "invoke",
        name="adaptiveCard/action",
        value={
            "action": {
                "type": "Action.Execute",
                "verb": verb,
                "data": {"case_id": 17, "version": 3, "decision": "call_in"},
            },
            "trigger": trigger,
        },
        replyToId="1700000000000",
        **extra,
    )


CARD = {
    "type": "AdaptiveCard",
    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
    "version": "1.5",
    "body": [{"type": "TextBlock", "text": "Beslut registrerat: kallas (åäö)", "wrap": True}],
}


# ---------------------------------------------------------------- bot and app


class RecordingBot(ActivityHandler):  # type: ignore[misc]
    """Records turns; answers invokes with `invoke_answer`; may fail or reply."""

    def __init__(
        self,
        *,
        invoke_answer: Callable[[TurnContext], Awaitable[Any]] | None = None,
        fail: bool = False,
        reply: bool = False,
    ) -> None:
        self.turns: list[tuple[str, str | None]] = []
        self._invoke_answer = invoke_answer
        self._fail = fail
        self._reply = reply

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        self.turns.append(("message", turn_context.activity.text))
        if self._fail:
            raise ValueError(f"cannot handle {turn_context.activity.text!r}")
        if self._reply:
            await turn_context.send_activity("Tack")

    async def on_invoke_activity(self, turn_context: TurnContext) -> Any:
        self.turns.append(("invoke", turn_context.activity.name))
        if self._fail:
            raise ValueError(f"cannot handle {turn_context.activity.value!r}")
        if self._invoke_answer is not None:
            return await self._invoke_answer(turn_context)
        return await super().on_invoke_activity(turn_context)


def make_app(process: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.Application:
    async def messages(request: web.Request) -> web.StreamResponse:
        return await process(request)

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/api/messages", messages)
    app.router.add_get("/api/messages", messages)
    app.router.add_get("/health", health)
    return app


@asynccontextmanager
async def serve(adapter: Any, bot: Any) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    """Run `adapter` behind POST /api/messages on 127.0.0.1 and a free port."""
    app = make_app(lambda request: adapter.process(request, bot))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client


def auth_config(**over: Any) -> BotAuthConfig:
    values: dict[str, Any] = {
        "app_id": APP_ID,
        "app_password": "not-a-real-secret",
        "tenant_id": TENANT,
        "allowed_tenants": frozenset({TENANT}),
    }
    values.update(over)
    return BotAuthConfig(**values)


def local_config(**over: Any) -> BotAuthConfig:
    return BotAuthConfig(app_id=None, app_password=None, local=True, **over)


@pytest.fixture
def auth_adapter(openid: OpenIdServer) -> Any:
    return create_adapter(auth_config())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# ---------------------------------------------------------------- fake Bot Connector


@dataclass
class Recorded:
    method: str
    path: str
    raw_path: str
    authorization: str | None
    body: Any
    peer: Any


@dataclass
class FakeConnector:
    """A Bot Connector on 127.0.0.1 that records requests and the client's TCP peer.

    `answers` is a queue of (status, headers, json body) to give, after which each call
    gets 201 {"id": "activity-N"}. `delay` holds every answer back.
    """

    answers: list[tuple[int, dict[str, str], Any]] = field(default_factory=list)
    delay: float = 0.0
    received: list[Recorded] = field(default_factory=list)
    url: str = ""

    def app(self) -> web.Application:
        async def handle(request: web.Request) -> web.Response:
            peer = request.transport.get_extra_info("peername") if request.transport else None
            self.received.append(
                Recorded(
                    request.method,
                    request.path,
                    request.raw_path,
                    request.headers.get("Authorization"),
                    await request.json(),
                    peer,
                )
            )
            if self.delay:
                await asyncio.sleep(self.delay)
            if self.answers:
                status, headers, body = self.answers.pop(0)
                return web.json_response(body, status=status, headers=headers)
            return web.json_response({"id": f"activity-{len(self.received)}"}, status=201)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        return app

    @property
    def connections(self) -> int:
        return len({r.peer for r in self.received})


@pytest.fixture
async def fake_connector() -> AsyncIterator[FakeConnector]:
    connector = FakeConnector()
    server = TestServer(connector.app(), host="127.0.0.1")
    await server.start_server()
    connector.url = str(server.make_url("/"))
    try:
        yield connector
    finally:
        await server.close()


def plain_click_check(runtime: str) -> tuple[Any, str]:
    """(module, name) of the function by which the runtime's endpoint answers a card click
    without the SDK's turn: patched to False, every click goes through the turn."""
    if runtime == "agents":
        from bot.teams.agents import endpoint

        return endpoint, "is_plain_card_action"
    from bot.teams import adapter

    return adapter, "_is_plain_card_action"


@pytest.fixture(params=["fast", "sdk"])
def click_path(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, runtime: str
) -> str:
    """Card clicks once without the SDK's turn, once through it, on the runtime of the run."""
    if request.param == "sdk":
        monkeypatch.setattr(*plain_click_check(runtime), lambda _body: False)
    return str(request.param)
