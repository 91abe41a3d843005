"""A Bot Connector stand-in for the fault tests: records every activity it receives, answers
as a script says (429 with Retry-After, 5xx, or success), and can be slow to answer.

An activity counts as delivered when it arrives and is answered 2xx, even when the sender
is killed before it reads the answer: Teams has posted the card by then. Each activity is
known by `channelData.faultId` when it has one, else by its JSON without `text` (the outbox
puts a fallback note there).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.db import transaction, utcnow
from bot.outbox import service as outbox
from bot.outbox.models import ConversationRef

# (conversation id, activity key, how many requests for that key came before) ->
# (status, headers); None: deliver it
Script = Callable[[str, str, int], tuple[int, dict[str, str]] | None]


def activity_key(activity: Any) -> str:
    """How the fault tests know one activity: its `faultId`, else its notification text
    (`summary`: one per case and card; a row the worker draws when it sends it holds no
    card, `bot.outbox.views.to_draw`, and the card it sends keeps the row's summary),
    else its JSON without `text`."""
    if isinstance(activity, dict):
        data = activity.get("channelData")
        if isinstance(data, dict) and isinstance(data.get("faultId"), str):
            return str(data["faultId"])
        if isinstance(activity.get("summary"), str):
            return f"summary: {activity['summary']}"
        activity = {k: v for k, v in activity.items() if k != "text"}
    return json.dumps(activity, sort_keys=True, ensure_ascii=False)


@dataclass(frozen=True)
class Received:
    at: float  # time.monotonic() on arrival
    conversation: str
    key: str
    status: int  # the answer given
    retry_after: float | None = None


@dataclass
class RecordingConnector:
    """Records every request; `delay` seconds before each answer; `script` picks faults."""

    delay: float = 0.0
    script: Script | None = None
    url: str = ""
    received: list[Received] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    async def _handle(self, request: web.Request) -> web.Response:
        arrived = time.monotonic()
        activity = await request.json()
        conversation = request.match_info["conversation"]
        key = activity_key(activity)
        before = sum(1 for r in self.received if r.key == key)
        planned = self.script(conversation, key, before) if self.script else None
        if planned is None:
            self.received.append(Received(arrived, conversation, key, 201))
            if self.delay:
                await asyncio.sleep(self.delay)
            return web.json_response({"id": f"act-{next(self._ids)}"}, status=201)
        status, headers = planned
        retry_after = float(headers["Retry-After"]) if "Retry-After" in headers else None
        self.received.append(Received(arrived, conversation, key, status, retry_after))
        if self.delay:
            await asyncio.sleep(self.delay)
        code = "Throttled" if status == 429 else "ServiceError"
        return web.json_response(
            {"error": {"code": code, "message": "injected"}}, status=status, headers=headers
        )

    def app(self) -> web.Application:
        app = web.Application()
        base = "/v3/conversations/{conversation}/activities"
        app.router.add_post(base, self._handle)
        app.router.add_put(base + "/{activity}", self._handle)
        return app

    def delivered(self) -> Counter[str]:
        """How many times each activity was delivered."""
        return Counter(r.key for r in self.received if 200 <= r.status < 300)

    def delivered_to(self, conversation: str) -> list[str]:
        """The activities delivered to one conversation, in the order they arrived."""
        return [r.key for r in self.received if r.conversation == conversation and r.status < 300]

    async def wait_for(self, predicate: Callable[[], bool], *, timeout: float, what: str) -> None:
        """Poll until `predicate()` holds; fail saying `what` was awaited."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}")
            await asyncio.sleep(0.05)


@asynccontextmanager
async def recording_connector(
    *, delay: float = 0.0, script: Script | None = None
) -> AsyncIterator[RecordingConnector]:
    """The recording connector on a free port of 127.0.0.1, stopped afterwards."""
    connector = RecordingConnector(delay=delay, script=script)
    server = TestServer(connector.app(), host="127.0.0.1")
    await server.start_server()
    connector.url = str(server.make_url("")).rstrip("/")
    try:
        yield connector
    finally:
        await server.close()


async def seed_cards(
    factory: Any, service_url: str, conversations: list[str], *, cards: int, prefix: str
) -> None:
    """Channel references to `conversations` served by the connector at `service_url`, and
    `cards` outbox rows dealt round-robin over them, card n recorded as `{prefix}{n}`."""
    async with transaction(factory) as session:
        for conversation in conversations:
            session.add(
                ConversationRef(
                    kind="channel",
                    key=conversation,
                    conversation_id=conversation,
                    service_url=service_url,
                    tenant_id=None,
                    bot_id=None,
                    updated_at=utcnow(),
                )
            )
        for n in range(cards):
            outbox.enqueue(
                session,
                purpose="fault-test",
                target_kind="channel",
                target=conversations[n % len(conversations)],
                activity={
                    "type": "message",
                    "text": str(n),
                    "channelData": {"faultId": f"{prefix}{n}"},
                },
                unit_id=None,
            )
