"""The loopback Teams harness: a fake Bot Connector that records what the bot sends, a
client that posts activities the way Teams does, and the real app on a free port, on the
Teams runtime of `TEAMS_SDK` (botbuilder by default; the `runtime` fixture of
tests/conftest.py sets it per run) or the one `running_bot(…, runtime=…)` names."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from jsonschema import Draft6Validator

from bot.app import create_app
from bot.config import Settings

FIXTURES = Path(__file__).parent / "fixtures"
TENANT = "11111111-2222-3333-4444-555555555555"
BOT_ID = "28:frakturkedjan-bot"
CHANNEL = "19:mva-tingvalla@thread.tacv2"
TEAM = "19:team-tingvalla@thread.tacv2"
INTAKE_TOKEN = "intake-secret-token"
REPORT_TOKEN = "report-secret-token"

ANNA = {"aad": "00000000-0000-0000-0000-000000000101", "id": "29:anna", "name": "Anna Berg"}
ERIK = {"aad": "00000000-0000-0000-0000-000000000103", "id": "29:erik", "name": "Erik Lund"}
MARIA = {"aad": "00000000-0000-0000-0000-000000000102", "id": "29:maria", "name": "Maria Svensson"}
STRANGER = {"aad": "00000000-0000-0000-0000-000000000999", "id": "29:x", "name": "Okänd"}


def _schema_validator() -> Draft6Validator:
    schema = json.loads((FIXTURES / "adaptive-card-1.5.json").read_text(encoding="utf-8"))
    return Draft6Validator(schema)


SCHEMA = _schema_validator()


def _fast_validator() -> Callable[[Any], bool] | None:
    """jsonschema-rs (a dependency of Schemathesis) on the same schema, formats unchecked as
    `SCHEMA` leaves them: about 0.1 ms a card where `SCHEMA` takes 15-50. None without it."""
    try:
        import jsonschema_rs
    except ImportError:
        return None
    schema = json.loads((FIXTURES / "adaptive-card-1.5.json").read_text(encoding="utf-8"))
    validator = jsonschema_rs.Draft6Validator(schema, validate_formats=False)
    return validator.is_valid


FAST_SCHEMA = _fast_validator()


def check_card(card: dict[str, Any]) -> None:
    """Assert a card is valid Adaptive Card 1.5 (without the Teams-only `msteams`) and small.
    A card the fast validator accepts is not validated again; `SCHEMA` has the last word
    (and the message) on any other."""
    plain = {key: value for key, value in card.items() if key != "msteams"}
    if FAST_SCHEMA is None or not FAST_SCHEMA(plain):
        errors = sorted(SCHEMA.iter_errors(plain), key=str)
        assert not errors, f"card not valid against the 1.5 schema: {errors[0].message}"
    size = len(json.dumps(card, ensure_ascii=False, separators=(",", ":")).encode())
    assert size < 40_000, f"card is {size} bytes"


@dataclass
class Sent:
    method: str
    conversation_id: str
    activity_id: str | None
    activity: dict[str, Any]

    @property
    def card(self) -> dict[str, Any] | None:
        for attachment in self.activity.get("attachments") or []:
            if attachment.get("contentType") == "application/vnd.microsoft.card.adaptive":
                content: dict[str, Any] = attachment["content"]
                return content
        return None

    @property
    def text(self) -> str:
        return json.dumps(self.activity, ensure_ascii=False)


@dataclass
class FakeConnector:
    """Records every send; `fail_next` queues error answers (status, headers, body)."""

    sent: list[Sent] = field(default_factory=list)
    planned: deque[tuple[int, dict[str, str], dict[str, Any]]] = field(default_factory=deque)
    attempts: int = 0
    url: str = ""
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def fail_next(
        self,
        status: int,
        *,
        headers: dict[str, str] | None = None,
        code: str = "Error",
        times: int = 1,
    ) -> None:
        for _ in range(times):
            self.planned.append((status, headers or {}, {"error": {"code": code, "message": code}}))

    async def _handle(self, request: web.Request) -> web.Response:
        self.attempts += 1
        body = await request.json()
        if self.planned:
            status, headers, error = self.planned.popleft()
            return web.json_response(error, status=status, headers=headers)
        conversation = request.match_info["conversation"]
        activity_id = request.match_info.get("activity") or f"act-{next(self._ids)}"
        self.sent.append(Sent(request.method, conversation, activity_id, body))
        return web.json_response({"id": activity_id})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v3/conversations/{conversation}/activities", self._handle)
        # replies within a turn go to .../activities/{replyToId}
        app.router.add_post("/v3/conversations/{conversation}/activities/{reply_to}", self._handle)
        app.router.add_put("/v3/conversations/{conversation}/activities/{activity}", self._handle)
        return app

    def to(self, conversation_id: str) -> list[Sent]:
        """The messages posted to a conversation (not the updates of posted ones)."""
        return [
            s for s in self.sent if s.conversation_id == conversation_id and s.method == "POST"
        ]

    def updates(self, conversation_id: str, activity_id: str | None = None) -> list[Sent]:
        """The updates of posted messages in a conversation (of one message, if given)."""
        return [
            s
            for s in self.sent
            if s.conversation_id == conversation_id
            and s.method == "PUT"
            and (activity_id is None or s.activity_id == activity_id)
        ]

    def showing(self, conversation_id: str, activity_id: str) -> dict[str, Any] | None:
        """The card the message `activity_id` shows now: its last update's, else its own."""
        versions = [
            s
            for s in self.sent
            if s.conversation_id == conversation_id and s.activity_id == activity_id
        ]
        return versions[-1].card if versions else None

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Wait until `predicate()` is truthy (the outbox works asynchronously)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if loop.time() > deadline:
                raise AssertionError(
                    f"timed out; sent so far: {[s.conversation_id for s in self.sent]}"
                )
            await asyncio.sleep(0.02)

    async def wait_count(
        self, conversation_id: str, count: int, timeout: float = 10.0
    ) -> list[Sent]:
        await self.wait_for(lambda: len(self.to(conversation_id)) >= count, timeout)
        return self.to(conversation_id)


def personal_conversation(person: dict[str, str]) -> str:
    return f"a:personal-{person['aad'][-3:]}"


@dataclass
class Teams:
    """Posts activities to the bot as Teams would, with the fake connector as serviceUrl.
    `runtime` is the Teams runtime the bot runs on."""

    http: aiohttp.ClientSession
    bot_url: str
    service_url: str
    runtime: str = "botbuilder"

    def _base(
        self,
        person: dict[str, str] | None,
        conversation: dict[str, Any],
        channel_data: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        activity: dict[str, Any] = {
            "id": "f:1",
            "channelId": "msteams",
            "serviceUrl": self.service_url,
            "timestamp": "2026-11-21T10:00:00Z",
            "conversation": {"tenantId": TENANT, **conversation},
            "recipient": {"id": BOT_ID, "name": "Frakturkedjan"},
            "channelData": {"tenant": {"id": TENANT}, **(channel_data or {})},
        }
        if person is not None:
            activity["from"] = {
                "id": person["id"],
                "name": person["name"],
                "aadObjectId": person["aad"],
            }
        return activity

    async def post(self, activity: dict[str, Any]) -> tuple[int, Any]:
        async with self.http.post(f"{self.bot_url}/api/messages", json=activity) as response:
            text = await response.text()
            return response.status, (json.loads(text) if text else None)

    async def install_personal(self, person: dict[str, str]) -> None:
        conversation = {"id": personal_conversation(person), "conversationType": "personal"}
        status, _ = await self.post(
            {**self._base(person, conversation), "type": "installationUpdate", "action": "add"}
        )
        assert status in (200, 201), status
        status, _ = await self.post(
            {
                **self._base(person, conversation),
                "type": "conversationUpdate",
                "membersAdded": [{"id": BOT_ID}],
            }
        )
        assert status in (200, 201), status

    async def install_channel(self, installer: dict[str, str], channel: str = CHANNEL) -> None:
        conversation = {"id": channel, "conversationType": "channel", "isGroup": True}
        data = {"team": {"id": TEAM}, "channel": {"id": channel}}
        status, _ = await self.post(
            {
                **self._base(installer, conversation, data),
                "type": "installationUpdate",
                "action": "add",
            }
        )
        assert status in (200, 201), status
        status, _ = await self.post(
            {
                **self._base(installer, conversation, {"team": {"id": TEAM}}),
                "type": "conversationUpdate",
                "membersAdded": [{"id": BOT_ID}],
            }
        )
        assert status in (200, 201), status

    async def invoke(
        self,
        person: dict[str, str],
        verb: str,
        data: Any,
        *,
        trigger: str = "manual",
        conversation_id: str | None = None,
    ) -> tuple[int, Any]:
        conversation = {
            "id": conversation_id or personal_conversation(person),
            "conversationType": "personal",
        }
        activity = {
            **self._base(person, conversation),
            "type": "invoke",
            "name": "adaptiveCard/action",
            "value": {
                "action": {"type": "Action.Execute", "verb": verb, "data": data},
                "trigger": trigger,
            },
        }
        return await self.post(activity)

    async def message(self, person: dict[str, str], text: str) -> tuple[int, Any]:
        conversation = {"id": personal_conversation(person), "conversationType": "personal"}
        return await self.post(
            {**self._base(person, conversation), "type": "message", "text": text}
        )

    async def intake(
        self,
        body: bytes | str,
        *,
        token: str | None = INTAKE_TOKEN,
        content_type: str = "application/fhir+json",
    ) -> tuple[int, Any]:
        headers = {"Content-Type": content_type}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        data = body.encode() if isinstance(body, str) else body
        async with self.http.post(
            f"{self.bot_url}/api/dxa-answers", data=data, headers=headers
        ) as response:
            text = await response.text()
            try:
                return response.status, json.loads(text)
            except json.JSONDecodeError:
                return response.status, text

    async def case(self, case_id: int | str, *, token: str = REPORT_TOKEN) -> tuple[int, Any]:
        async with self.http.get(
            f"{self.bot_url}/api/cases/{case_id}", headers={"Authorization": f"Bearer {token}"}
        ) as response:
            return response.status, await response.json()


def settings_for(db_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": db_url,
        "intake_tokens_raw": f"{INTAKE_TOKEN},second-sender-token",
        "report_tokens_raw": REPORT_TOKEN,
        "outbox_poll_seconds": 0.05,
        "patient_key_secret": "test-secret",
    }
    values.update(overrides)
    return Settings(**values)


def card_of(answer: Any) -> dict[str, Any]:
    """The card of an `adaptiveCard/action` answer; fails on an error answer."""
    assert answer["statusCode"] == 200, answer
    assert answer["type"] == "application/vnd.microsoft.card.adaptive"
    card: dict[str, Any] = answer["value"]
    check_card(card)
    return card


def error_of(answer: Any) -> str:
    assert answer["type"] == "application/vnd.microsoft.error", answer
    message: str = answer["value"]["message"]
    return message


def actions_of(card: dict[str, Any]) -> list[dict[str, Any]]:
    """Every Action.Execute in a card, nested ones included."""
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "Action.Execute" and node.get("verb") != "card.refresh":
                found.append(node)
            for key, value in node.items():
                if key != "refresh":
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(card)
    return found


def card_text(card: dict[str, Any]) -> str:
    """Every string in the card, markdown escapes removed: what a person reads."""
    parts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, str):
            parts.append(re.sub(r"\\(.)", r"\1", node).replace("\u200d", ""))

    walk(card)
    return "\n".join(parts)


@asynccontextmanager
async def running_bot(
    db_url: str, *, runtime: str | None = None, **overrides: Any
) -> AsyncIterator[tuple[Teams, FakeConnector]]:
    """The real app (local mode) and a fake connector, both on 127.0.0.1 free ports; the
    app on `runtime` (`botbuilder`, `agents`), by default `TEAMS_SDK`'s."""
    connector = FakeConnector()
    connector_server = TestServer(connector.app(), host="127.0.0.1")
    await connector_server.start_server()
    connector.url = str(connector_server.make_url("")).rstrip("/")
    if runtime is not None:
        overrides["teams_sdk"] = runtime
    settings = settings_for(db_url, **overrides)
    app = create_app(settings, local=True)
    bot_server = TestServer(app, host="127.0.0.1")
    await bot_server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            bot_url = str(bot_server.make_url("")).rstrip("/")
            yield Teams(http, bot_url, connector.url, settings.teams_sdk), connector
    finally:
        await bot_server.close()
        await connector_server.close()
